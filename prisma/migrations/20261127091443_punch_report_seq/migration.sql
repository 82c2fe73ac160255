-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
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
    "createdAt" DATETIME NOT NULL
);
INSERT INTO "new_PunchReport" ("createdAt", "dials", "elapsedMs", "errorCode", "introductionId", "outcome", "path", "peerId", "via") SELECT "createdAt", "dials", "elapsedMs", "errorCode", "introductionId", "outcome", "path", "peerId", "via" FROM "PunchReport";
DROP TABLE "PunchReport";
ALTER TABLE "new_PunchReport" RENAME TO "PunchReport";
CREATE INDEX "PunchReport_createdAt_idx" ON "PunchReport"("createdAt");
CREATE UNIQUE INDEX "PunchReport_introductionId_peerId_key" ON "PunchReport"("introductionId", "peerId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
