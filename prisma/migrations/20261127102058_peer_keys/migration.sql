-- AlterTable
ALTER TABLE "Introduction" ADD COLUMN "initiatorPublicKey" TEXT;
ALTER TABLE "Introduction" ADD COLUMN "targetPublicKey" TEXT;

-- AlterTable
ALTER TABLE "Registration" ADD COLUMN "publicKey" TEXT;
