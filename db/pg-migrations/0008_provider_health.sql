CREATE TABLE "provider_health" (
	"provider" text PRIMARY KEY NOT NULL,
	"failures_in_a_row" integer DEFAULT 0 NOT NULL,
	"down_since" bigint,
	"down_reason" text,
	"probed_at" bigint
);
