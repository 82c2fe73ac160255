-- CreateTable
CREATE TABLE "PunchReport" (
    "introductionId" TEXT NOT NULL,
    "peerId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "via" TEXT,
    "path" TEXT,
    "elapsedMs" INTEGER NOT NULL,
    "attempts" INTEGER NOT NULL,
    "errorCode" TEXT,
    "createdAt" DATETIME NOT NULL,

    PRIMARY KEY ("introductionId", "peerId")
);

-- CreateIndex
CREATE INDEX "PunchReport_createdAt_idx" ON "PunchReport"("createdAt");
