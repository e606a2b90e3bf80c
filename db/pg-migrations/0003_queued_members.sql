CREATE TABLE "queued_members" (
	"user_id" integer PRIMARY KEY NOT NULL,
	"queued" integer NOT NULL,
	"first_queued" bigint NOT NULL,
	"last_start" bigint NOT NULL
);
--> statement-breakpoint
-- Hand-written below (drizzle-kit knows no triggers): the table is kept by every write to jobs, as on SQLite
-- (db/migrations/0005). The count moves by one under the member row's lock; then, in a statement of its own (a fresh
-- snapshot under READ COMMITTED, so it sees whatever the transaction that held the lock before committed), the first
-- queued time and latest start are read again by index seeks. SERIALIZABLE transactions that race are retried.
CREATE FUNCTION "jobs_keep_queued_members"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'queued' THEN
    UPDATE "queued_members" SET "queued" = "queued" - 1 WHERE "user_id" = OLD.user_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'queued' THEN
    INSERT INTO "queued_members" ("user_id", "queued", "first_queued", "last_start") VALUES (NEW.user_id, 1, NEW.created_at, 0)
      ON CONFLICT ("user_id") DO UPDATE SET "queued" = "queued_members"."queued" + 1;
  END IF;
  -- Every member this row touched, before and after (the same one but for a moved job).
  PERFORM 1 FROM "queued_members" WHERE "user_id" IN (
    CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.user_id END, CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.user_id END
  ) FOR UPDATE;
  DELETE FROM "queued_members" WHERE "queued" <= 0 AND "user_id" IN (
    CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.user_id END, CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.user_id END
  );
  UPDATE "queued_members" m SET
    "first_queued" = (SELECT min(j.created_at) FROM "jobs" j WHERE j.status = 'queued' AND j.user_id = m.user_id),
    "last_start" = coalesce((SELECT max(j.submitted_at) FROM "jobs" j WHERE j.user_id = m.user_id), 0)
  WHERE m.user_id IN (CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.user_id END, CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.user_id END);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "jobs_queued_members_insert" AFTER INSERT ON "jobs" FOR EACH ROW
  WHEN (NEW.status = 'queued' OR NEW.submitted_at IS NOT NULL) EXECUTE FUNCTION "jobs_keep_queued_members"();
--> statement-breakpoint
CREATE TRIGGER "jobs_queued_members_update" AFTER UPDATE OF "status", "user_id", "created_at", "submitted_at" ON "jobs" FOR EACH ROW
  WHEN ((OLD.status = 'queued') <> (NEW.status = 'queued') OR (NEW.status = 'queued' AND (OLD.user_id <> NEW.user_id OR OLD.created_at <> NEW.created_at))
    OR OLD.submitted_at IS DISTINCT FROM NEW.submitted_at)
  EXECUTE FUNCTION "jobs_keep_queued_members"();
--> statement-breakpoint
CREATE TRIGGER "jobs_queued_members_delete" AFTER DELETE ON "jobs" FOR EACH ROW
  WHEN (OLD.status = 'queued') EXECUTE FUNCTION "jobs_keep_queued_members"();
--> statement-breakpoint
-- A database that already has a queue: its members' rows, as the triggers would have kept them.
INSERT INTO "queued_members" ("user_id", "queued", "first_queued", "last_start")
  SELECT q.user_id, count(*), min(q.created_at), coalesce((SELECT max(s.submitted_at) FROM "jobs" s WHERE s.user_id = q.user_id), 0)
  FROM "jobs" q WHERE q.status = 'queued' GROUP BY q.user_id;
