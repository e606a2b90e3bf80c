CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"started_at" bigint NOT NULL,
	"lease_until" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "worker_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "lease_epoch" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "jobs_worker" ON "jobs" USING btree ("worker_id");