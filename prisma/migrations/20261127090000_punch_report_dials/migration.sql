-- "attempts" meant dials: one word per thing. A rename keeps every stored report.
ALTER TABLE "PunchReport" RENAME COLUMN "attempts" TO "dials";
