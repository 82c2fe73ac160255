-- CreateTable
CREATE TABLE "Registration" (
    "peerId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "publicAddress" TEXT NOT NULL,
    "publicPort" INTEGER NOT NULL,
    "privateEndpoints" TEXT NOT NULL,
    "ttlSeconds" INTEGER NOT NULL,
    "inboxCursor" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "refreshedAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Registration_pkey" PRIMARY KEY ("peerId")
);

-- CreateTable
CREATE TABLE "Introduction" (
    "seq" SERIAL NOT NULL,
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
    "createdAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Introduction_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "PunchReport" (
    "introductionId" TEXT NOT NULL,
    "peerId" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "via" TEXT,
    "path" TEXT,
    "elapsedMs" INTEGER NOT NULL,
    "dials" INTEGER NOT NULL,
    "errorCode" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PunchReport_pkey" PRIMARY KEY ("introductionId","peerId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Registration_tokenHash_key" ON "Registration"("tokenHash");

-- CreateIndex
CREATE INDEX "Registration_expiresAt_idx" ON "Registration"("expiresAt");

-- CreateIndex
CREATE INDEX "Registration_publicAddress_expiresAt_idx" ON "Registration"("publicAddress", "expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "Introduction_id_key" ON "Introduction"("id");

-- CreateIndex
CREATE INDEX "Introduction_targetId_seq_idx" ON "Introduction"("targetId", "seq");

-- CreateIndex
CREATE INDEX "Introduction_initiatorId_idx" ON "Introduction"("initiatorId");

-- CreateIndex
CREATE INDEX "Introduction_expiresAt_idx" ON "Introduction"("expiresAt");

-- CreateIndex
CREATE INDEX "PunchReport_createdAt_idx" ON "PunchReport"("createdAt");

-- AddForeignKey
ALTER TABLE "Introduction" ADD CONSTRAINT "Introduction_initiatorId_fkey" FOREIGN KEY ("initiatorId") REFERENCES "Registration"("peerId") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Introduction" ADD CONSTRAINT "Introduction_targetId_fkey" FOREIGN KEY ("targetId") REFERENCES "Registration"("peerId") ON DELETE CASCADE ON UPDATE CASCADE;
