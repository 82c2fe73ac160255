-- AlterTable
ALTER TABLE "Introduction" ADD COLUMN     "initiatorIpv6Address" TEXT,
ADD COLUMN     "initiatorIpv6Port" INTEGER,
ADD COLUMN     "targetIpv6Address" TEXT,
ADD COLUMN     "targetIpv6Port" INTEGER;

-- AlterTable
ALTER TABLE "Registration" ADD COLUMN     "ipv6Address" TEXT,
ADD COLUMN     "ipv6Anchor" TEXT,
ADD COLUMN     "ipv6Port" INTEGER;
