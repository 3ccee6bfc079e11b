ALTER TABLE "events" ALTER COLUMN "data" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "message_id" bigint;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "broadcast_id" bigint;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_broadcast_id_broadcasts_id_fk" FOREIGN KEY ("broadcast_id") REFERENCES "public"."broadcasts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_created_at" ON "events" USING brin ("created_at");--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_one_payload" CHECK (num_nonnulls("events"."data", "events"."message_id", "events"."broadcast_id") = 1);