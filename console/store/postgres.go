package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also the database/sql driver "pgx"
)

// pgMigrations take the schema from version i to i+1; the version applied
// is recorded in mamori_schema. They are only ever appended to. Alerts and
// events are partitioned by day of time_ns (UTC): retention drops whole
// partitions, which takes no lock ingest would wait for.
var pgMigrations = []string{
	`CREATE TABLE alerts (
		time_ns BIGINT NOT NULL, uuid TEXT NOT NULL, received_ns BIGINT NOT NULL,
		cluster TEXT NOT NULL, node TEXT NOT NULL, namespace TEXT NOT NULL, pod TEXT NOT NULL,
		container_id TEXT NOT NULL, container_name TEXT NOT NULL, image TEXT NOT NULL,
		rule TEXT NOT NULL, priority SMALLINT NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,
		tags TEXT NOT NULL, output TEXT NOT NULL, process_id TEXT NOT NULL, doc TEXT NOT NULL,
		PRIMARY KEY (time_ns, uuid)) PARTITION BY RANGE (time_ns);
	CREATE INDEX alerts_uuid ON alerts (uuid);
	CREATE INDEX alerts_node ON alerts (node, time_ns);
	CREATE INDEX alerts_rule ON alerts (rule, time_ns);
	CREATE INDEX alerts_container ON alerts (container_id, time_ns);
	CREATE INDEX alerts_namespace ON alerts (namespace, pod, time_ns);
	CREATE INDEX alerts_priority ON alerts (priority, time_ns);
	CREATE TABLE events (
		time_ns BIGINT NOT NULL, id TEXT NOT NULL, cluster TEXT NOT NULL, node TEXT NOT NULL,
		container_id TEXT NOT NULL, type TEXT NOT NULL, process_id TEXT NOT NULL, parent_id TEXT NOT NULL,
		doc TEXT NOT NULL, PRIMARY KEY (time_ns, id)) PARTITION BY RANGE (time_ns);
	CREATE INDEX events_container ON events (container_id, time_ns);
	CREATE INDEX events_process ON events (process_id);
	CREATE INDEX events_parent ON events (parent_id);
	CREATE TABLE nodes (cluster TEXT NOT NULL, node TEXT NOT NULL, last_ns BIGINT NOT NULL, doc TEXT NOT NULL,
		PRIMARY KEY (cluster, node));
	CREATE TABLE containers (cluster TEXT NOT NULL, node TEXT NOT NULL, id TEXT NOT NULL, last_ns BIGINT NOT NULL,
		running BOOLEAN NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (cluster, node, id));`,
	// 2: incidents, and the workload each alert is grouped by.
	`ALTER TABLE alerts ADD COLUMN workload TEXT NOT NULL DEFAULT '';
	CREATE INDEX alerts_workload ON alerts (workload, time_ns);
	CREATE TABLE incidents (id TEXT PRIMARY KEY, cluster TEXT NOT NULL, workload TEXT NOT NULL, node TEXT NOT NULL,
		namespace TEXT NOT NULL, pod TEXT NOT NULL, container TEXT NOT NULL, image TEXT NOT NULL,
		first_ns BIGINT NOT NULL, last_ns BIGINT NOT NULL, alerts BIGINT NOT NULL, priority SMALLINT NOT NULL,
		rules TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL, updated_ns BIGINT NOT NULL, updated_by TEXT NOT NULL);
	CREATE INDEX incidents_workload ON incidents (workload, last_ns);
	CREATE INDEX incidents_last ON incidents (last_ns);`,
	// 3: per-minute counts for /api/v1/counts (rollup.go).
	rollupMigration,
	// 4: behaviour profiles and the network map (profiles.go, flows.go).
	profilesMigration,
	// 5: the rule's index carries the fields alerts are counted by, so
	// that a count for one rule ("by node per hour, this rule, 7 days")
	// reads that index alone instead of one heap page per alert: 1.1 s
	// at p99 over 10M alerts before. It replaces (rule, time_ns), which
	// it serves as well. Building it over a stored table holds ingest
	// (of every replica) for a while; see docs/console.md.
	`SET LOCAL maintenance_work_mem = '256MB';
	CREATE INDEX alerts_rule_counts ON alerts (rule, time_ns) INCLUDE (cluster, node, namespace, priority, source, action);
	DROP INDEX alerts_rule;`,
	// 6: the identifiers that alerts are keyed, filtered and counted by
	// compare as bytes (COLLATE "C"), not by the database's locale.
	// Every alert goes into seven B-trees keyed by them, and every batch
	// upserts the rollup's and the incidents' keys; PostgreSQL 15
	// compares text of any collation but "C" (C.UTF-8 included) through
	// strcoll. Measured with consolebench load (docs/benchmarks.md):
	// PostgreSQL's CPU per stored alert 7 to 8% lower than with
	// C.UTF-8, 30 to 40% lower than with an en_US collation (ICU or
	// glibc). Equality is the same; these columns now sort in byte order
	// (the feed's cursor on uuid, the incidents' on id), which C.UTF-8's
	// order already was; the text search keeps the locale's case folding
	// (pgLike). It rebuilds every index of the alerts but the priority's
	// (the rows are not rewritten) under the table's exclusive lock:
	// ingest and the API's reads of alerts wait meanwhile, 26 s over a
	// million alerts here (0.7 GB of their indexes). Changing a
	// column's type drops its statistics, and a past day's partition is
	// never analysed again by itself (its rows no longer change): without
	// the ANALYZE, "feed: namespace + rule" took 21 ms instead of 2 over
	// a million alerts.
	`SET LOCAL maintenance_work_mem = '256MB';
	ALTER TABLE alerts ALTER COLUMN uuid TYPE TEXT COLLATE "C", ALTER COLUMN cluster TYPE TEXT COLLATE "C",
		ALTER COLUMN node TYPE TEXT COLLATE "C", ALTER COLUMN namespace TYPE TEXT COLLATE "C",
		ALTER COLUMN pod TYPE TEXT COLLATE "C", ALTER COLUMN container_id TYPE TEXT COLLATE "C",
		ALTER COLUMN rule TYPE TEXT COLLATE "C", ALTER COLUMN source TYPE TEXT COLLATE "C",
		ALTER COLUMN action TYPE TEXT COLLATE "C", ALTER COLUMN workload TYPE TEXT COLLATE "C";
	ALTER TABLE incidents ALTER COLUMN id TYPE TEXT COLLATE "C", ALTER COLUMN workload TYPE TEXT COLLATE "C";
	ALTER TABLE alert_rollup ALTER COLUMN field TYPE TEXT COLLATE "C", ALTER COLUMN cluster TYPE TEXT COLLATE "C",
		ALTER COLUMN value TYPE TEXT COLLATE "C";
	ANALYZE alerts, incidents, alert_rollup;`,
	// 7: one rule's counts by hour, kept once asked for (rulehours.go).
	fmt.Sprintf(ruleHoursTables, ` COLLATE "C"`),
	// 8: the feed's container filter reads an index (containerCond): the
	// container's name, to which an id is resolved through the
	// inventory (containers_short). The index on (container_id, time_ns)
	// served no query: the filter was "id or name", which could use it
	// for neither, and read the alerts newest first until it had a page
	// (all of them, for a container without alerts: a second over a
	// million); and its 64-digit keys cost more to insert into than a
	// name's. The name joins the identifiers in collation "C" (as in
	// version 6; no index had it, and the rows are not rewritten).
	// Building the index over stored alerts holds ingest meanwhile, as
	// version 5 did; ANALYZE gathers the statistics the collation's
	// change dropped and the container's (pgContainerStats, made for
	// each partition), which a past day's partition would never get again.
	`SET LOCAL maintenance_work_mem = '256MB';
	DROP INDEX alerts_container;
	ALTER TABLE alerts ALTER COLUMN container_name TYPE TEXT COLLATE "C";
	CREATE INDEX alerts_container_name ON alerts (container_name, time_ns);
	CREATE INDEX containers_short ON containers (substr(id, 1, 12));
	DO $$ DECLARE p text; BEGIN
		FOR p IN SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'alerts'::regclass LOOP
			EXECUTE format('` + strings.ReplaceAll(pgContainerStats, "%[1]s", "%1$s") + `', p);
		END LOOP;
	END $$;
	ANALYZE alerts;`,
	// 9: the events' identifiers compare as bytes too (as the alerts'
	// since version 6): each event goes into four B-trees keyed by them.
	// In a database whose collation is a locale's (en_US, as managed
	// PostgreSQL services default to), an INSERT ... SELECT of 200,000
	// events took 16% less time with them in "C" (ICU en-US; none
	// measurable in C.UTF-8; bench/events-collation.sh). Equality is the
	// same; ids now sort by bytes, where they only break ties of time.
	// Rebuilds the events' indexes under the table's exclusive lock: event
	// ingest and the API's reads of events wait meanwhile (events are kept
	// 3 days by default).
	`SET LOCAL maintenance_work_mem = '256MB';
	ALTER TABLE events ALTER COLUMN id TYPE TEXT COLLATE "C", ALTER COLUMN cluster TYPE TEXT COLLATE "C",
		ALTER COLUMN node TYPE TEXT COLLATE "C", ALTER COLUMN container_id TYPE TEXT COLLATE "C",
		ALTER COLUMN type TYPE TEXT COLLATE "C", ALTER COLUMN process_id TYPE TEXT COLLATE "C",
		ALTER COLUMN parent_id TYPE TEXT COLLATE "C";
	ANALYZE events;`,
	// 10: the rollup keeps each image's and each tag's alerts per
	// minute too, and the feed reads only the minutes that hold a tag, an
	// image, an action or a source it is filtered by (rollupfeed.go).
	// Building the rollup's index of values holds ingest meanwhile.
	fmt.Sprintf(rollupFieldsTable, ` COLLATE "C"`),
	// 11: counts by the day, summed from kept hours (ruledays.go).
	fmt.Sprintf(ruleDaysTables, ` COLLATE "C"`),
	// 12: the rollup's rows say when in their minute their first and
	// last alerts are (rollupfeed.go). Rows of before stay without.
	`ALTER TABLE alert_rollup ADD COLUMN first_ns BIGINT, ADD COLUMN last_ns BIGINT;`,
	// 13: the rollup's pages are filled to half. Every batch updates
	// the rows of its minute (about one update for six alerts stored),
	// and a full page leaves no room for a row's new version beside the
	// old: the update then goes to another page and into both of the
	// rollup's indexes (a HOT update, on the same page, into neither).
	// Measured (docs/benchmarks.md): HOT updates 28% → 70% of them,
	// PostgreSQL's CPU an alert 53 → 51 µs at the median of seven
	// ingests each. Pages made from now on; nothing is rewritten.
	`ALTER TABLE alert_rollup SET (fillfactor = 50);`,
	// 14: an hour or a day kept of a rule is one row, its counts in it
	// (rulehours.go); what was kept before is counted again.
	fmt.Sprintf(keptTables, ` COLLATE "C"`, "BYTEA"),
}

// pgContainerStats tells the planner of the alerts' partition %[1]s that a
// container's id decides its name (each partition's, as it plans each
// partition with that partition's statistics): a filter by id is "name
// IN (its names) AND id IN (its ids)" (containerCond), which the planner
// would otherwise take for two independent conditions and estimate at a
// few rows, and read a busy container's alerts whole through a bitmap,
// then sort them, instead of reading the index of names in the feed's
// order until it has a page (25 ms against 0.5 over a million alerts).
const pgContainerStats = "CREATE STATISTICS IF NOT EXISTS %[1]s_container (dependencies) ON container_name, container_id FROM %[1]s"

// pgRuleHoursVersion is the schema version with rulehours.go's tables.
const pgRuleHoursVersion = 7

// pgMarksVersion is the schema version with rollup_fields (rollupfeed.go).
const pgMarksVersion = 10

// pgKeptVersion is the schema version with keptTables.
const pgKeptVersion = 14

// pgSpansVersion is the schema version with the rollup's first_ns and
// last_ns.
const pgSpansVersion = 12

// OpenPostgres connects to the PostgreSQL database at url and brings its
// schema up to date; several consoles may do so at once.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	s, err := openPostgres(ctx, url, pgMigrations)
	if err != nil {
		return nil, err // not a nil *sqlStore in a non-nil Store
	}
	return s, nil
}

// openPostgres brings the schema to len(migrations) (a test opens an old
// one with fewer).
func openPostgres(ctx context.Context, url string, migrations []string) (*sqlStore, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// PostgreSQL compiles a query whose estimated cost is high to machine
	// code (JIT) before running it. The console's queries read indexes
	// for a page or a count; one that reads many short ranges of time
	// (rollupfeed.go) is estimated high and ran 14 ms, after a compilation
	// of 1.2 s. Off, unless the URL says otherwise (options=-cjit=on).
	if _, set := cfg.RuntimeParams["jit"]; !set && !strings.Contains(cfg.RuntimeParams["options"], "jit") {
		cfg.RuntimeParams["jit"] = "off"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", redact(url), err)
	}
	if err := migratePostgres(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", redact(url), err)
	}
	var marks map[string]int64
	if len(migrations) >= pgMarksVersion {
		if marks, err = loadMarks(ctx, db); err != nil {
			db.Close()
			return nil, err
		}
	}
	p := &partitions{made: map[string]bool{}}
	return &sqlStore{db: db, ruleHours: len(migrations) >= pgRuleHoursVersion, kept: len(migrations) >= pgKeptVersion, spans: len(migrations) >= pgSpansVersion, marks: marks, textBudget: defaultTextBudget, d: dialect{
		name:    "postgres",
		rebind:  dollar,
		lateral: true,
		replans: true,
		like:    pgLike,
		maxRows: 1000,
		put:     p.put,
		prune:   p.prune,
		lockWorkloads: func(ctx context.Context, tx *sql.Tx, keys []string) error {
			_, err := tx.ExecContext(ctx, pgLockWorkloads, keys)
			return err
		},
		lockKey: func(ctx context.Context, tx *sql.Tx, key string, shared bool) error {
			lock := "pg_advisory_xact_lock"
			if shared {
				lock = "pg_advisory_xact_lock_shared"
			}
			_, err := tx.ExecContext(ctx, "SELECT "+lock+"(7306374, hashtext($1))", key)
			return err
		},
	}}, nil
}

// pgLike is the text search's operator: it folds case by the database's
// locale, as it did before schema version 6 put rule in collation "C"
// (which folds ASCII only): "écriture" finds "Écriture".
const pgLike = `COLLATE "default" ILIKE`

// redact hides a password in a URL for messages.
func redact(url string) string {
	return regexp.MustCompile(`://([^:@/]+):[^@/]*@`).ReplaceAllString(url, "://$1:***@")
}

func migratePostgres(ctx context.Context, db *sql.DB, migrations []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// One console migrates at a time; the others wait and find it done.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7306372)"); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS mamori_schema (version INT NOT NULL, applied TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(version), 0) FROM mamori_schema").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this mamori knows (%d): use a newer mamori", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO mamori_schema (version) VALUES ($1)", v+1); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const day = 24 * time.Hour

// partitions creates the day partitions rows fall in, and drops the old.
type partitions struct {
	mu   sync.Mutex
	made map[string]bool // partitions known to exist
}

func partitionName(table string, dayStart time.Time) string {
	return table + "_" + dayStart.Format("20060102")
}

// ensure makes sure a partition exists for each day of times, creating
// missing ones (and the next day's, so that midnight does not wait for
// DDL). Each is created in a transaction of its own, committed before the
// batch's: a batch that fails must not take its partition with it.
func (p *partitions) ensure(ctx context.Context, db *sql.DB, table string, times []int64) error {
	days := map[time.Time]bool{}
	for _, t := range times {
		d := time.Unix(0, t).UTC().Truncate(day)
		days[d] = true
		days[d.Add(day)] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for d := range days {
		name := partitionName(table, d)
		if p.made[name] {
			continue
		}
		ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM (%d) TO (%d)",
			name, table, d.UnixNano(), d.Add(day).UnixNano())
		if table == "alerts" {
			// In the same implicit transaction: a partition that
			// exists has them.
			ddl += "; " + fmt.Sprintf(pgContainerStats, name)
		}
		_, err := db.ExecContext(ctx, ddl)
		if err != nil {
			// Another console may have made it between our look and
			// our CREATE: IF NOT EXISTS covers a finished one, not a
			// concurrent one.
			var exists bool
			if db.QueryRowContext(ctx, "SELECT true FROM pg_class WHERE relname = $1", name).Scan(&exists) == nil && exists {
				p.made[name] = true
				continue
			}
			return fmt.Errorf("store: partition %s: %w", name, err)
		}
		p.made[name] = true
	}
	return nil
}

var partitionRE = regexp.MustCompile(`^(alerts|events)_(\d{8})$`)

// prune drops the partitions of table that end at or before cutoff, then
// deletes the older rows of the day cutoff falls in a few thousand at a
// time: ingest writes to the newest partitions and never waits for either.
func (p *partitions) prune(ctx context.Context, db *sql.DB, table string, cutoff int64) (int64, error) {
	n, err := p.drop(ctx, db, table, cutoff)
	if err != nil {
		return n, err
	}
	m, err := pruneInChunks(ctx, db, table, cutoff, "$1")
	return n + m, err
}

// drop removes the partitions of table that end at or before cutoff.
func (p *partitions) drop(ctx context.Context, db *sql.DB, table string, cutoff int64) (int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.relname, COALESCE(s.n_live_tup, 0) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class pc ON pc.oid = i.inhparent
		LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE pc.relname = $1`, table)
	if err != nil {
		return 0, fmt.Errorf("store: list partitions of %s: %w", table, err)
	}
	type part struct {
		name string
		rows int64
	}
	var old []part
	for rows.Next() {
		var pt part
		if err := rows.Scan(&pt.name, &pt.rows); err != nil {
			rows.Close()
			return 0, err
		}
		m := partitionRE.FindStringSubmatch(pt.name)
		if m == nil {
			continue
		}
		d, err := time.Parse("20060102", m[2])
		if err != nil {
			continue
		}
		if d.Add(day).UnixNano() <= cutoff {
			old = append(old, pt)
		}
	}
	rows.Close()
	sort.Slice(old, func(i, j int) bool { return old[i].name < old[j].name })
	var n int64
	for _, pt := range old {
		var count int64
		// Exact counts for the report: a partition is one day, counting it
		// is cheap next to what dropping it saves.
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+pt.name).Scan(&count); err != nil {
			return n, fmt.Errorf("store: count %s: %w", pt.name, err)
		}
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+pt.name); err != nil {
			return n, fmt.Errorf("store: drop %s: %w", pt.name, err)
		}
		p.mu.Lock()
		delete(p.made, pt.name)
		p.mu.Unlock()
		n += count
	}
	return n, nil
}
