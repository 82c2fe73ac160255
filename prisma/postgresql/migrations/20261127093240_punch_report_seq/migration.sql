-- AlterTable
ALTER TABLE "PunchReport" DROP CONSTRAINT "PunchReport_pkey",
ADD COLUMN     "seq" SERIAL NOT NULL,
ADD CONSTRAINT "PunchReport_pkey" PRIMARY KEY ("seq");

-- CreateIndex
CREATE UNIQUE INDEX "PunchReport_introductionId_peerId_key" ON "PunchReport"("introductionId", "peerId");
