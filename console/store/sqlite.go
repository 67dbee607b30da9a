package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// sqliteMigrations take the schema from version i to i+1 (PRAGMA
// user_version). They are only ever appended to. Alerts and events are
// rowid tables with a unique index on (time, id): their rows (the JSON
// document) are too large for a WITHOUT ROWID table, which stores them in
// its key's B-tree and spent five times the space.
var sqliteMigrations = []string{
	`CREATE TABLE alerts (
		time_ns INTEGER NOT NULL, uuid TEXT NOT NULL, received_ns INTEGER NOT NULL,
		cluster TEXT NOT NULL, node TEXT NOT NULL, namespace TEXT NOT NULL, pod TEXT NOT NULL,
		container_id TEXT NOT NULL, container_name TEXT NOT NULL, image TEXT NOT NULL,
		rule TEXT NOT NULL, priority INTEGER NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,
		tags TEXT NOT NULL, output TEXT NOT NULL, process_id TEXT NOT NULL, doc TEXT NOT NULL);
	CREATE UNIQUE INDEX alerts_key ON alerts (time_ns, uuid);
	CREATE INDEX alerts_uuid ON alerts (uuid);
	CREATE INDEX alerts_node ON alerts (node, time_ns);
	CREATE INDEX alerts_rule ON alerts (rule, time_ns);
	CREATE INDEX alerts_container ON alerts (container_id, time_ns);
	CREATE INDEX alerts_namespace ON alerts (namespace, pod, time_ns);
	CREATE INDEX alerts_priority ON alerts (priority, time_ns);
	CREATE TABLE events (
		time_ns INTEGER NOT NULL, id TEXT NOT NULL, cluster TEXT NOT NULL, node TEXT NOT NULL,
		container_id TEXT NOT NULL, type TEXT NOT NULL, process_id TEXT NOT NULL, parent_id TEXT NOT NULL,
		doc TEXT NOT NULL);
	CREATE UNIQUE INDEX events_key ON events (time_ns, id);
	CREATE INDEX events_container ON events (container_id, time_ns);
	CREATE INDEX events_process ON events (process_id);
	CREATE INDEX events_parent ON events (parent_id);
	CREATE TABLE nodes (cluster TEXT NOT NULL, node TEXT NOT NULL, last_ns INTEGER NOT NULL, doc TEXT NOT NULL,
		PRIMARY KEY (cluster, node));
	CREATE TABLE containers (cluster TEXT NOT NULL, node TEXT NOT NULL, id TEXT NOT NULL, last_ns INTEGER NOT NULL,
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
	// 5: as PostgreSQL's: the rule's index carries the fields alerts are
	// counted by, so that a count for one rule reads it alone.
	`CREATE INDEX alerts_rule_counts ON alerts (rule, time_ns, cluster, node, namespace, priority, source, action);
	DROP INDEX alerts_rule;`,
	// 6: one rule's counts by hour, kept once asked for (rulehours.go).
	fmt.Sprintf(ruleHoursTables, ""),
	// 7: as PostgreSQL's 8: the container filter reads the index of
	// names, an id resolved to its name through the inventory.
	`DROP INDEX alerts_container;
	CREATE INDEX alerts_container_name ON alerts (container_name, time_ns);
	CREATE INDEX containers_short ON containers (substr(id, 1, 12));`,
	// 8: as PostgreSQL's 10: the feed reads only the minutes that hold a
	// tag, an image, an action or a source it is filtered by.
	fmt.Sprintf(rollupFieldsTable, ""),
	// 9: a namespace's alerts in the feed's order. The index of
	// (namespace, pod, time) gives a namespace's alerts pod by pod, and
	// SQLite sorted them all for a filter by the namespace alone: 0.74 s
	// for a namespace of 100,000 alerts among a million, statistics or
	// none. (PostgreSQL reads the time index for a busy namespace.)
	`CREATE INDEX alerts_namespace_time ON alerts (namespace, time_ns);`,
	// 10: counts by the day, summed from kept hours (ruledays.go).
	fmt.Sprintf(ruleDaysTables, ""),
	// 11: as PostgreSQL's 12: when in their minute the rollup's rows'
	// first and last alerts are.
	`ALTER TABLE alert_rollup ADD COLUMN first_ns INTEGER;
	ALTER TABLE alert_rollup ADD COLUMN last_ns INTEGER;`,
	// 12: as PostgreSQL's 14: an hour or a day kept of a rule is one row.
	fmt.Sprintf(keptTables, "", "BLOB"),
}

// sqliteRuleHoursVersion is the schema version with rulehours.go's tables.
const sqliteRuleHoursVersion = 6

// sqliteMarksVersion is the schema version with rollup_fields.
const sqliteMarksVersion = 8

// sqliteKeptVersion is the schema version with keptTables.
const sqliteKeptVersion = 12

// sqliteSpansVersion is the schema version with the rollup's first_ns and
// last_ns.
const sqliteSpansVersion = 11

// OpenSQLite opens (creating it and its directory when missing) the
// console's SQLite database at path and brings its schema up to date.
func OpenSQLite(path string) (Store, error) {
	s, err := openSQLite(path, sqliteMigrations)
	if err != nil {
		return nil, err // not a nil *sqlStore in a non-nil Store
	}
	return s, nil
}

// openSQLite brings the schema to len(migrations) (a test opens an old
// one with fewer).
func openSQLite(path string, migrations []string) (*sqlStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := migrateSQLite(context.Background(), db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	var marks map[string]int64
	if len(migrations) >= sqliteMarksVersion {
		if marks, err = loadMarks(context.Background(), db); err != nil {
			db.Close()
			return nil, err
		}
	}
	// SQLite tests the free text at about 7 µs an alert here (PostgreSQL
	// 4): half as many a page.
	return &sqlStore{db: db, ruleHours: len(migrations) >= sqliteRuleHoursVersion, kept: len(migrations) >= sqliteKeptVersion, spans: len(migrations) >= sqliteSpansVersion, marks: marks, textBudget: defaultTextBudget / 2, d: dialect{
		name:      "sqlite",
		unindexed: "+",
		rebind:    func(q string) string { return q },
		like:      "LIKE", // case-insensitive for ASCII
		maxRows:   500,
		prune: func(ctx context.Context, db *sql.DB, table string, cutoff int64) (int64, error) {
			return pruneInChunks(ctx, db, table, cutoff, "?")
		},
	}}, nil
}

func migrateSQLite(ctx context.Context, db *sql.DB, migrations []string) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this mamori knows (%d): use a newer mamori", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// pruneInChunks deletes old rows a few thousand at a time, each in its own
// transaction, so that ingest waits for one chunk at most.
func pruneInChunks(ctx context.Context, db *sql.DB, table string, cutoff int64, placeholder string) (int64, error) {
	key := "uuid"
	if table == "events" {
		key = "id"
	}
	var total int64
	for {
		res, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE (time_ns, "+key+") IN (SELECT time_ns, "+key+
			" FROM "+table+" WHERE time_ns < "+placeholder+" ORDER BY time_ns LIMIT 5000)", cutoff)
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}
