-- CreateIndex
CREATE INDEX "Registration_publicAddress_expiresAt_idx" ON "Registration"("publicAddress", "expiresAt");
