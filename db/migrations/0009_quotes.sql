CREATE TABLE `quotes` (
	`id` text PRIMARY KEY NOT NULL,
	`platform` text NOT NULL,
	`platform_user_id` text NOT NULL,
	`request` text NOT NULL,
	`model` text NOT NULL,
	`price` integer NOT NULL,
	`status` text NOT NULL,
	`job_id` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `quotes_created` ON `quotes` (`created_at`);