-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Introduction" (
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
    "initiatorMapping" TEXT NOT NULL DEFAULT 'unknown',
    "targetMapping" TEXT NOT NULL DEFAULT 'unknown',
    "createdAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL,
    CONSTRAINT "Introduction_initiatorId_fkey" FOREIGN KEY ("initiatorId") REFERENCES "Registration" ("peerId") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Introduction_targetId_fkey" FOREIGN KEY ("targetId") REFERENCES "Registration" ("peerId") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Introduction" ("createdAt", "expiresAt", "id", "initiatorId", "initiatorPrivateEndpoints", "initiatorPublicAddress", "initiatorPublicPort", "secret", "seq", "targetId", "targetPrivateEndpoints", "targetPublicAddress", "targetPublicPort") SELECT "createdAt", "expiresAt", "id", "initiatorId", "initiatorPrivateEndpoints", "initiatorPublicAddress", "initiatorPublicPort", "secret", "seq", "targetId", "targetPrivateEndpoints", "targetPublicAddress", "targetPublicPort" FROM "Introduction";
DROP TABLE "Introduction";
ALTER TABLE "new_Introduction" RENAME TO "Introduction";
CREATE UNIQUE INDEX "Introduction_id_key" ON "Introduction"("id");
CREATE INDEX "Introduction_targetId_seq_idx" ON "Introduction"("targetId", "seq");
CREATE INDEX "Introduction_initiatorId_idx" ON "Introduction"("initiatorId");
CREATE INDEX "Introduction_expiresAt_idx" ON "Introduction"("expiresAt");
CREATE TABLE "new_PunchReport" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "introductionId" TEXT NOT NULL,
    "peerId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "via" TEXT,
    "path" TEXT,
    "elapsedMs" INTEGER NOT NULL,
    "dials" INTEGER NOT NULL,
    "errorCode" TEXT,
    "mappings" TEXT NOT NULL DEFAULT 'unknown+unknown',
    "createdAt" DATETIME NOT NULL
);
INSERT INTO "new_PunchReport" ("createdAt", "dials", "elapsedMs", "errorCode", "introductionId", "outcome", "path", "peerId", "seq", "via") SELECT "createdAt", "dials", "elapsedMs", "errorCode", "introductionId", "outcome", "path", "peerId", "seq", "via" FROM "PunchReport";
DROP TABLE "PunchReport";
ALTER TABLE "new_PunchReport" RENAME TO "PunchReport";
CREATE INDEX "PunchReport_createdAt_idx" ON "PunchReport"("createdAt");
CREATE UNIQUE INDEX "PunchReport_introductionId_peerId_key" ON "PunchReport"("introductionId", "peerId");
CREATE TABLE "new_Registration" (
    "peerId" TEXT NOT NULL PRIMARY KEY,
    "tokenHash" TEXT NOT NULL,
    "publicAddress" TEXT NOT NULL,
    "addressKey" TEXT NOT NULL,
    "publicPort" INTEGER NOT NULL,
    "privateEndpoints" TEXT NOT NULL,
    "ttlSeconds" INTEGER NOT NULL,
    "inboxCursor" INTEGER NOT NULL DEFAULT 0,
    "mapping" TEXT NOT NULL DEFAULT 'unknown',
    "mappingAddress" TEXT,
    "mappingPort" INTEGER,
    "createdAt" DATETIME NOT NULL,
    "refreshedAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL
);
INSERT INTO "new_Registration" ("addressKey", "createdAt", "expiresAt", "inboxCursor", "peerId", "privateEndpoints", "publicAddress", "publicPort", "refreshedAt", "tokenHash", "ttlSeconds") SELECT "addressKey", "createdAt", "expiresAt", "inboxCursor", "peerId", "privateEndpoints", "publicAddress", "publicPort", "refreshedAt", "tokenHash", "ttlSeconds" FROM "Registration";
DROP TABLE "Registration";
ALTER TABLE "new_Registration" RENAME TO "Registration";
CREATE UNIQUE INDEX "Registration_tokenHash_key" ON "Registration"("tokenHash");
CREATE INDEX "Registration_expiresAt_idx" ON "Registration"("expiresAt");
CREATE INDEX "Registration_addressKey_expiresAt_idx" ON "Registration"("addressKey", "expiresAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
