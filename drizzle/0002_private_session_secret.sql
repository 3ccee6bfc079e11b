DROP INDEX "private_sessions_one_live_pair";--> statement-breakpoint
ALTER TABLE "private_sessions" ADD COLUMN "secret" text;--> statement-breakpoint
-- The old index allowed a live session each way between two users who started at the same moment: keep the older.
UPDATE "private_sessions" SET "ended_at" = now()
WHERE "ended_at" IS NULL AND EXISTS (
  SELECT 1 FROM "private_sessions" AS "older"
  WHERE "older"."ended_at" IS NULL AND "older"."id" < "private_sessions"."id"
    AND least("older"."initiator", "older"."peer") = least("private_sessions"."initiator", "private_sessions"."peer")
    AND greatest("older"."initiator", "older"."peer") = greatest("private_sessions"."initiator", "private_sessions"."peer")
);--> statement-breakpoint
-- Sessions live across the upgrade get a secret too (two random UUIDs: 244 bits from the server's strong random source).
UPDATE "private_sessions" SET "secret" = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
WHERE "ended_at" IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "private_sessions_one_live_pair" ON "private_sessions" USING btree (least("initiator", "peer"),greatest("initiator", "peer")) WHERE "private_sessions"."ended_at" is null;--> statement-breakpoint
ALTER TABLE "private_sessions" ADD CONSTRAINT "private_sessions_secret_while_live" CHECK (("private_sessions"."ended_at" is null) = ("private_sessions"."secret" is not null));
