ALTER TABLE `ledger_entries` ADD `payment_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_one_purchase_per_payment` ON `ledger_entries` (`payment_id`) WHERE kind = 'purchase';