-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Registration" (
    "peerId" TEXT NOT NULL PRIMARY KEY,
    "tokenHash" TEXT NOT NULL,
    "publicAddress" TEXT NOT NULL,
    "addressKey" TEXT NOT NULL,
    "publicPort" INTEGER NOT NULL,
    "privateEndpoints" TEXT NOT NULL,
    "ttlSeconds" INTEGER NOT NULL,
    "inboxCursor" INTEGER NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL,
    "refreshedAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL
);
-- Edited: existing rows count by their address (registrations live an hour at most), new ones by their IPv6 prefix.
INSERT INTO "new_Registration" ("addressKey", "createdAt", "expiresAt", "inboxCursor", "peerId", "privateEndpoints", "publicAddress", "publicPort", "refreshedAt", "tokenHash", "ttlSeconds") SELECT "publicAddress", "createdAt", "expiresAt", "inboxCursor", "peerId", "privateEndpoints", "publicAddress", "publicPort", "refreshedAt", "tokenHash", "ttlSeconds" FROM "Registration";
DROP TABLE "Registration";
ALTER TABLE "new_Registration" RENAME TO "Registration";
CREATE UNIQUE INDEX "Registration_tokenHash_key" ON "Registration"("tokenHash");
CREATE INDEX "Registration_expiresAt_idx" ON "Registration"("expiresAt");
CREATE INDEX "Registration_addressKey_expiresAt_idx" ON "Registration"("addressKey", "expiresAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
