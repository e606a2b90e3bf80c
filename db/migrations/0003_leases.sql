CREATE TABLE `workers` (
	`id` text PRIMARY KEY NOT NULL,
	`started_at` integer NOT NULL,
	`lease_until` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `jobs` ADD `worker_id` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `lease_epoch` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `jobs_worker` ON `jobs` (`worker_id`);