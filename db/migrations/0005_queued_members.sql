CREATE TABLE `queued_members` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`queued` integer NOT NULL,
	`first_queued` integer NOT NULL,
	`last_start` integer NOT NULL
);
--> statement-breakpoint
-- Hand-written below (drizzle-kit knows no triggers): the table is kept by every write to jobs. Counts move by one and
-- times by min/max on the member's row; jobs are read (index seeks) only when a member joins the queue (their latest
-- start) or their first queued job leaves it (the next one). PostgreSQL's twin: db/pg-migrations/0003.
CREATE TRIGGER `jobs_queued_members_insert` AFTER INSERT ON `jobs` WHEN new.status = 'queued' OR new.submitted_at IS NOT NULL BEGIN
  INSERT INTO `queued_members` (`user_id`, `queued`, `first_queued`, `last_start`) SELECT new.user_id, 1, new.created_at, 0 WHERE new.status = 'queued'
    ON CONFLICT (`user_id`) DO UPDATE SET `queued` = `queued` + 1, `first_queued` = min(`first_queued`, excluded.`first_queued`);
  UPDATE `queued_members` SET `last_start` = coalesce((SELECT max(`submitted_at`) FROM `jobs` WHERE `user_id` = new.user_id), 0)
    WHERE new.status = 'queued' AND `user_id` = new.user_id AND `queued` = 1;
  UPDATE `queued_members` SET `last_start` = max(`last_start`, new.submitted_at) WHERE new.submitted_at IS NOT NULL AND `user_id` = new.user_id;
END;
--> statement-breakpoint
CREATE TRIGGER `jobs_queued_members_update` AFTER UPDATE OF `status`, `user_id`, `created_at`, `submitted_at` ON `jobs`
WHEN (old.status = 'queued') <> (new.status = 'queued') OR (new.status = 'queued' AND (old.user_id <> new.user_id OR old.created_at <> new.created_at))
  OR old.submitted_at IS NOT new.submitted_at
BEGIN
  UPDATE `queued_members` SET `queued` = `queued` - 1 WHERE old.status = 'queued' AND `user_id` = old.user_id;
  DELETE FROM `queued_members` WHERE old.status = 'queued' AND `user_id` = old.user_id AND `queued` <= 0;
  UPDATE `queued_members` SET `first_queued` = (SELECT min(`created_at`) FROM `jobs` j WHERE j.`status` = 'queued' AND j.`user_id` = old.user_id)
    WHERE old.status = 'queued' AND `user_id` = old.user_id AND `first_queued` >= old.created_at;
  INSERT INTO `queued_members` (`user_id`, `queued`, `first_queued`, `last_start`) SELECT new.user_id, 1, new.created_at, 0 WHERE new.status = 'queued'
    ON CONFLICT (`user_id`) DO UPDATE SET `queued` = `queued` + 1, `first_queued` = min(`first_queued`, excluded.`first_queued`);
  UPDATE `queued_members` SET `last_start` = coalesce((SELECT max(`submitted_at`) FROM `jobs` WHERE `user_id` = new.user_id), 0)
    WHERE new.status = 'queued' AND `user_id` = new.user_id AND `queued` = 1;
  UPDATE `queued_members` SET `last_start` = max(`last_start`, new.submitted_at) WHERE new.submitted_at IS NOT NULL AND `user_id` = new.user_id;
END;
--> statement-breakpoint
CREATE TRIGGER `jobs_queued_members_delete` AFTER DELETE ON `jobs` WHEN old.status = 'queued' BEGIN
  UPDATE `queued_members` SET `queued` = `queued` - 1 WHERE `user_id` = old.user_id;
  DELETE FROM `queued_members` WHERE `user_id` = old.user_id AND `queued` <= 0;
  UPDATE `queued_members` SET `first_queued` = (SELECT min(`created_at`) FROM `jobs` j WHERE j.`status` = 'queued' AND j.`user_id` = old.user_id)
    WHERE `user_id` = old.user_id AND `first_queued` >= old.created_at;
END;
--> statement-breakpoint
-- A database that already has a queue: its members' rows, as the triggers would have kept them.
INSERT INTO `queued_members` (`user_id`, `queued`, `first_queued`, `last_start`)
  SELECT q.`user_id`, count(*), min(q.`created_at`), coalesce((SELECT max(s.`submitted_at`) FROM `jobs` s WHERE s.`user_id` = q.`user_id`), 0)
  FROM `jobs` q WHERE q.`status` = 'queued' GROUP BY q.`user_id`;
