CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_user_id` integer NOT NULL,
	`action` text NOT NULL,
	`target_user_id` integer,
	`job_id` text,
	`detail` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`actor_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`target_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `audit_created` ON `audit_log` (`created_at`);--> statement-breakpoint
CREATE TABLE `blocklist_terms` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`term` text NOT NULL,
	`added_by` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`added_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `blocklist_terms_term_unique` ON `blocklist_terms` (`term`);--> statement-breakpoint
CREATE TABLE `chat_settings` (
	`platform` text NOT NULL,
	`chat_id` text NOT NULL,
	`default_model` text,
	`allowed_channel_ids` text,
	`daily_job_quota` integer,
	`updated_by` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`platform`, `chat_id`),
	FOREIGN KEY (`updated_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `intake_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`command` text NOT NULL,
	`job_id` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`status` text NOT NULL,
	`platform` text NOT NULL,
	`chat_id` text NOT NULL,
	`guild_id` text,
	`request_message_id` text,
	`locale` text,
	`upload_limit_bytes` integer,
	`model` text NOT NULL,
	`provider` text NOT NULL,
	`provider_model` text NOT NULL,
	`prompt` text NOT NULL,
	`params` text NOT NULL,
	`input_image_url` text,
	`input_media_key` text,
	`price` integer NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`provider_task_id` text,
	`result_url` text,
	`status_chat_id` text,
	`status_message_id` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error_kind` text,
	`error_message` text,
	`error_ref` text,
	`media_key` text,
	`media_bytes` integer,
	`media_url` text,
	`delivered_at` integer,
	`delivery_ref` text,
	`created_at` integer NOT NULL,
	`submitted_at` integer,
	`provider_done_at` integer,
	`finished_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `jobs_status` ON `jobs` (`status`);--> statement-breakpoint
CREATE INDEX `jobs_user_created` ON `jobs` (`user_id`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_provider_task` ON `jobs` (`provider`,`provider_task_id`);--> statement-breakpoint
CREATE TABLE `ledger_entries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`kind` text NOT NULL,
	`amount` integer NOT NULL,
	`job_id` text,
	`actor_user_id` integer,
	`reason` text,
	`day` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`actor_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `ledger_user` ON `ledger_entries` (`user_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_one_hold_per_job` ON `ledger_entries` (`job_id`) WHERE kind = 'hold';--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_one_settlement_per_job` ON `ledger_entries` (`job_id`) WHERE kind in ('capture', 'release');--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_one_daily_per_day` ON `ledger_entries` (`user_id`,`day`) WHERE kind = 'daily';--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`platform` text NOT NULL,
	`platform_user_id` text NOT NULL,
	`display_name` text DEFAULT '' NOT NULL,
	`banned` integer DEFAULT false NOT NULL,
	`ban_reason` text,
	`daily_job_quota` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_identity` ON `users` (`platform`,`platform_user_id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`provider` text NOT NULL,
	`delivery_id` text NOT NULL,
	`job_id` text,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`provider`, `delivery_id`)
);
