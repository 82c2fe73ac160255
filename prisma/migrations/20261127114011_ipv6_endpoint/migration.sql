-- AlterTable
ALTER TABLE "Introduction" ADD COLUMN "initiatorIpv6Address" TEXT;
ALTER TABLE "Introduction" ADD COLUMN "initiatorIpv6Port" INTEGER;
ALTER TABLE "Introduction" ADD COLUMN "targetIpv6Address" TEXT;
ALTER TABLE "Introduction" ADD COLUMN "targetIpv6Port" INTEGER;

-- AlterTable
ALTER TABLE "Registration" ADD COLUMN "ipv6Address" TEXT;
ALTER TABLE "Registration" ADD COLUMN "ipv6Anchor" TEXT;
ALTER TABLE "Registration" ADD COLUMN "ipv6Port" INTEGER;
