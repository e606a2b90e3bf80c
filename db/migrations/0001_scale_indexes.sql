DROP INDEX `jobs_status`;--> statement-breakpoint
CREATE INDEX `jobs_status_provider_user` ON `jobs` (`status`,`provider`,`user_id`);--> statement-breakpoint
CREATE INDEX `jobs_user_submitted` ON `jobs` (`user_id`,`submitted_at`);--> statement-breakpoint
CREATE INDEX `jobs_created` ON `jobs` (`created_at`);