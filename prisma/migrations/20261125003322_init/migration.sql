-- CreateTable
CREATE TABLE "Registration" (
    "peerId" TEXT NOT NULL PRIMARY KEY,
    "tokenHash" TEXT NOT NULL,
    "publicAddress" TEXT NOT NULL,
    "publicPort" INTEGER NOT NULL,
    "privateEndpoints" TEXT NOT NULL,
    "ttlSeconds" INTEGER NOT NULL,
    "inboxCursor" INTEGER NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL,
    "refreshedAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Introduction" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "id" TEXT NOT NULL,
    "secret" TEXT NOT NULL,
    "initiatorId" TEXT NOT NULL,
    "initiatorPublicAddress" TEXT NOT NULL,
    "initiatorPublicPort" INTEGER NOT NULL,
    "initiatorPrivateEndpoints" TEXT NOT NULL,
    "targetId" TEXT NOT NULL,
    "targetPublicAddress" TEXT NOT NULL,
    "targetPublicPort" INTEGER NOT NULL,
    "targetPrivateEndpoints" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL,
    CONSTRAINT "Introduction_initiatorId_fkey" FOREIGN KEY ("initiatorId") REFERENCES "Registration" ("peerId") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Introduction_targetId_fkey" FOREIGN KEY ("targetId") REFERENCES "Registration" ("peerId") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Registration_tokenHash_key" ON "Registration"("tokenHash");

-- CreateIndex
CREATE INDEX "Registration_expiresAt_idx" ON "Registration"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "Introduction_id_key" ON "Introduction"("id");

-- CreateIndex
CREATE INDEX "Introduction_targetId_seq_idx" ON "Introduction"("targetId", "seq");

-- CreateIndex
CREATE INDEX "Introduction_initiatorId_idx" ON "Introduction"("initiatorId");

-- CreateIndex
CREATE INDEX "Introduction_expiresAt_idx" ON "Introduction"("expiresAt");
