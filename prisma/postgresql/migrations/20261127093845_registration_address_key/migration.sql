-- DropIndex
DROP INDEX "Registration_publicAddress_expiresAt_idx";

-- AlterTable (edited: existing rows count by their address, as registrations live an hour at most)
ALTER TABLE "Registration" ADD COLUMN     "addressKey" TEXT;
UPDATE "Registration" SET "addressKey" = "publicAddress";
ALTER TABLE "Registration" ALTER COLUMN "addressKey" SET NOT NULL;

-- CreateIndex
CREATE INDEX "Registration_addressKey_expiresAt_idx" ON "Registration"("addressKey", "expiresAt");
