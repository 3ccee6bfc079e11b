ALTER TABLE "events" DROP CONSTRAINT "events_username_users_username_fk";
--> statement-breakpoint
ALTER TABLE "events" DROP CONSTRAINT "events_message_id_messages_id_fk";
--> statement-breakpoint
ALTER TABLE "events" DROP CONSTRAINT "events_broadcast_id_broadcasts_id_fk";
