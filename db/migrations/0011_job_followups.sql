ALTER TABLE `jobs` ADD `parent_job_id` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `followup` text;--> statement-breakpoint
CREATE INDEX `jobs_parent` ON `jobs` (`parent_job_id`);