CREATE TABLE `communities` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text DEFAULT '' NOT NULL,
	`first_seen_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`refused_at` integer,
	`left_at` integer
);
--> statement-breakpoint
CREATE TABLE `community_members` (
	`community` text NOT NULL,
	`user_id` integer NOT NULL,
	`banned` integer DEFAULT false NOT NULL,
	`ban_reason` text,
	`daily_job_quota` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`community`, `user_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
DROP INDEX `blocklist_terms_term_unique`;--> statement-breakpoint
ALTER TABLE `blocklist_terms` ADD `community` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `blocklist_community_term` ON `blocklist_terms` (`community`,`term`);--> statement-breakpoint
ALTER TABLE `audit_log` ADD `community` text;