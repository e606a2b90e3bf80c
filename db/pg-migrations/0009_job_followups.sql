ALTER TABLE "jobs" ADD COLUMN "parent_job_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "followup" text;--> statement-breakpoint
CREATE INDEX "jobs_parent" ON "jobs" USING btree ("parent_job_id");