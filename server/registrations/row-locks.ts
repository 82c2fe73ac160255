// PostgreSQL, several instances: a group commit's transaction locks the
// registrations it will change before it changes any, all in one statement,
// in peer id order. Two transactions that lock in one order cannot deadlock
// (PostgreSQL would find the cycle only after deadlock_timeout, 1 s, and
// abort one). FOR NO KEY UPDATE, as an UPDATE itself takes: it does not
// block the foreign-key checks of introductions being stored elsewhere.
import { Prisma } from '../generated/prisma/client.js'
import type { Transaction } from '../db/group-commit.js'

export async function lockRegistrations (tx: Transaction, peerIds: string[]): Promise<void> {
  await tx.$queryRaw`SELECT "peerId" FROM "Registration" WHERE "peerId" IN (${Prisma.join(peerIds)}) ORDER BY "peerId" FOR NO KEY UPDATE`
}
