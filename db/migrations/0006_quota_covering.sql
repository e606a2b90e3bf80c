DROP INDEX `jobs_user_created`;--> statement-breakpoint
CREATE INDEX `jobs_user_created` ON `jobs` (`user_id`,`created_at`,`status`,`provider_task_id`);