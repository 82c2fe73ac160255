-- AlterTable
ALTER TABLE "Introduction" ADD COLUMN     "initiatorMapping" TEXT NOT NULL DEFAULT 'unknown',
ADD COLUMN     "targetMapping" TEXT NOT NULL DEFAULT 'unknown';

-- AlterTable
ALTER TABLE "PunchReport" ADD COLUMN     "mappings" TEXT NOT NULL DEFAULT 'unknown+unknown';

-- AlterTable
ALTER TABLE "Registration" ADD COLUMN     "mapping" TEXT NOT NULL DEFAULT 'unknown',
ADD COLUMN     "mappingAddress" TEXT,
ADD COLUMN     "mappingPort" INTEGER;
