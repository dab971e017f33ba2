/**
 * The SQLite store's fixed statements, prepared per connection on first use (the reading
 * connection of the store and, when it runs, the writer thread's).
 */
import type Database from "better-sqlite3";
import { CACHE_HIT_OUTPUTS_SELECT, STEP_RUN_SELECT_COLUMNS } from "../sql/rows.js";

type Statement = Database.Statement;

export const RUN_SELECT = `SELECT r.*, p.name AS pipeline_name FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id`;
export const ARTIFACT_VERSION_SELECT = `SELECT v.* FROM artifact_versions v`;
export const RUN_FILTER = `(@pipelineName IS NULL OR p.name = @pipelineName) AND (@status IS NULL OR r.status = @status)
  AND (@name IS NULL OR r.name = @name) AND (@idPrefix IS NULL OR substr(r.id, 1, length(@idPrefix)) = @idPrefix)
  AND (@scheduleName IS NULL OR r.schedule_name = @scheduleName)`;
export const MEMBER_SELECT = `SELECT m.stack_name, c.id, c.type, c.name, c.flavor, c.config
  FROM stack_members m JOIN stack_components c ON c.id = m.component_id`;

/**
 * Every fixed statement, prepared once. Preparing needs the tables to exist, so this runs
 * on first use (after `migrate()` on a new file) rather than in the constructor.
 *
 * "Newest first" orders by creation time, then by rowid so that rows created within the
 * same millisecond still come back in insertion order.
 */
export function prepareStatements(db: Database.Database): Statements {
  return lazily(statementMakers(db));
}

function statementMakers(db: Database.Database) {
  return {
    // Get-or-create in one statement: the no-op update makes RETURNING give the existing row's id.
    pipelineId: (): Statement => db
      .prepare(
        `INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`,
      )
      .pluck(),

    insertSnapshot: (): Statement => db.prepare(
      `INSERT INTO pipeline_snapshots (id, pipeline_id, is_dynamic, parameters, source, spec, created_at)
       VALUES (@id, @pipelineId, @isDynamic, @parameters, @source, @spec, @createdAt)`,
    ),
    getSnapshot: (): Statement => db.prepare(
      `SELECT s.*, p.name AS pipeline_name FROM pipeline_snapshots s JOIN pipelines p ON p.id = s.pipeline_id
       WHERE s.id = ?`,
    ),

    insertStepConfiguration: (): Statement => db.prepare(
      `INSERT INTO step_configurations (id, snapshot_id, step_run_id, invocation_id, step_name, config)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    stepConfigurationsBySnapshot: (): Statement => db.prepare(
      `SELECT * FROM step_configurations WHERE snapshot_id = ? ORDER BY invocation_id, id`,
    ),
    // A dynamic run's step configuration is a column of its step run (schema 5); older ones are rows.
    stepConfigurationsByStepRun: (): Statement => db.prepare(
      `SELECT id AS id, NULL AS snapshot_id, id AS step_run_id, invocation_id, step_name, configuration AS config
         FROM step_runs WHERE id = @id AND configuration IS NOT NULL
       UNION ALL
       SELECT id, snapshot_id, step_run_id, invocation_id, step_name, config FROM step_configurations WHERE step_run_id = @id
       ORDER BY invocation_id, id`,
    ),

    insertRun: (): Statement => db.prepare(
      `INSERT INTO pipeline_runs (id, name, pipeline_id, snapshot_id, stack_name, is_dynamic, status,
         orchestrator_run_id, created_at, started_at, ended_at, error, output, enable_cache, fingerprint,
         heartbeat_at, owner, cancel_requested_at, seq, schedule_name, scheduled_for)
       VALUES (@id, @name, @pipelineId, @snapshotId, @stackName, @isDynamic, @status,
         NULL, @createdAt, @startedAt, NULL, NULL, 'null', @enableCache, NULL, @heartbeatAt, @owner, NULL, @seq, @scheduleName, @scheduledFor)`,
    ),
    getRun: (): Statement => db.prepare(`${RUN_SELECT} WHERE r.id = ?`),
    listRuns: (): Statement => db.prepare(`${RUN_SELECT} WHERE ${RUN_FILTER} ORDER BY r.created_at DESC, r.rowid DESC LIMIT @limit OFFSET @offset`),
    // The filtered page of runs, then each one's step counts by status: one row per (run, status).
    listRunSummaries: (): Statement => db.prepare(
      `WITH page AS (
         ${RUN_SELECT.replace("SELECT r.*", "SELECT r.*, r.rowid AS row_order")}
         WHERE ${RUN_FILTER} ORDER BY r.created_at DESC, r.rowid DESC LIMIT @limit OFFSET @offset)
       SELECT page.*, c.status AS step_status, c.n AS step_count FROM page
       LEFT JOIN (SELECT run_id, status, COUNT(*) AS n FROM step_runs
                  WHERE run_id IN (SELECT id FROM page) GROUP BY run_id, status) c ON c.run_id = page.id
       ORDER BY page.created_at DESC, page.row_order DESC`,
    ),
    findRuns: (): Statement => db.prepare(
      `${RUN_SELECT}
       WHERE (@name IS NULL OR r.name = @name) AND (@idPrefix IS NULL OR substr(r.id, 1, length(@idPrefix)) = @idPrefix)
         AND (@idSuffix IS NULL OR substr(r.id, -length(@idSuffix)) = @idSuffix)
       ORDER BY r.created_at DESC, r.rowid DESC`,
    ),
    claimRun: (): Statement => db.prepare(
      `UPDATE pipeline_runs SET owner = @owner, heartbeat_at = @now, seq = @seq
       WHERE id = @runId AND (owner IS NULL OR owner = @owner OR heartbeat_at IS NULL OR heartbeat_at < @staleBefore)`,
    ),
    runExists: (): Statement => db.prepare(`SELECT 1 FROM pipeline_runs WHERE id = ?`).pluck(),
    // Deleting a run: the versions its step runs link (or its output names) that nothing else links.
    runArtifactVersions: (): Statement => db.prepare(
      `SELECT artifact_version_id FROM step_run_outputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = @runId)
       UNION SELECT artifact_version_id FROM step_run_inputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = @runId)`,
    ).pluck(),
    deleteRun: (): Statement => db.prepare(`DELETE FROM pipeline_runs WHERE id = ?`),
    deleteUnusedSnapshot: (): Statement => db.prepare(
      `DELETE FROM pipeline_snapshots WHERE id = ? AND NOT EXISTS (SELECT 1 FROM pipeline_runs WHERE snapshot_id = ?)`,
    ),
    deleteUnlinkedVersion: (): Statement => db.prepare(
      `DELETE FROM artifact_versions WHERE id = ?
         AND NOT EXISTS (SELECT 1 FROM step_run_outputs WHERE artifact_version_id = ?)
         AND NOT EXISTS (SELECT 1 FROM step_run_inputs WHERE artifact_version_id = ?)
       RETURNING uri, artifact_store_id`,
    ),

    insertStepRun: (): Statement => db.prepare(
      // Positional: binding by name costs a property lookup per column, a few µs per row at fan-out rates.
      // Every column is given: a step run created and finished in one batch is inserted in its final state.
      `INSERT INTO step_runs (id, run_id, invocation_id, step_name, status, attempt, mapping_key, cache_key,
         original_step_run_id, position, upstream, parameters, created_at, started_at, ended_at, error, metadata, seq,
         configuration)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getStepRun: (): Statement => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE id = ?`),
    stepRunExists: (): Statement => db.prepare(`SELECT 1 FROM step_runs WHERE id = ?`).pluck(),
    // One statement, so that the guard holds against another writer: completed and cached
    // step runs are never reset (their outputs may be in use).
    resetStepRun: (): Statement => db.prepare(
      `UPDATE step_runs SET status = 'pending', error = NULL, ended_at = NULL, seq = ?
       WHERE id = ? AND status NOT IN ('completed', 'cached') RETURNING id`,
    ).pluck(),
    stepRunStatus: (): Statement => db.prepare(`SELECT status FROM step_runs WHERE id = ?`).pluck(),
    deleteStepOutputs: (): Statement => db.prepare(`DELETE FROM step_run_outputs WHERE step_run_id = ?`),
    findStepRun: (): Statement => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? AND invocation_id = ?`),
    listStepRuns: (): Statement => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? ORDER BY position, rowid`),
    listStepRunChanges: (): Statement => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
    // The newest completed step run with the key, then one row per output link with its
    // version's columns (o_ and v_).
    findCacheHit: (): Statement => db.prepare(
      `WITH hit AS (SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE cache_key = ? AND status = 'completed'
                    ORDER BY created_at DESC, rowid DESC LIMIT 1)
       SELECT hit.*, ${CACHE_HIT_OUTPUTS_SELECT}
       ORDER BY o.position, o.output_name`,
    ),

    // Registers the name on first sight and takes its next version number, in one statement
    // (no read-then-write that two writers could interleave).
    nextArtifactVersion: (): Statement => db
      .prepare(
        `INSERT INTO artifacts (name, created_at, latest_version) VALUES (?, ?, 1)
         ON CONFLICT (name) DO UPDATE SET latest_version = latest_version + 1
         RETURNING latest_version`,
      )
      .pluck(),
    insertArtifactVersion: (): Statement => db.prepare(
      `INSERT INTO artifact_versions (id, artifact_name, version, uri, data_type, materializer, content_hash, size,
         metadata, created_at, artifact_store_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    artifactVersionByName: (): Statement => db.prepare(
      `${ARTIFACT_VERSION_SELECT} WHERE v.artifact_name = @name AND (@version IS NULL OR v.version = @version)
       ORDER BY v.version DESC LIMIT 1`,
    ),
    getArtifactVersion: (): Statement => db.prepare(`${ARTIFACT_VERSION_SELECT} WHERE v.id = ?`),
    listArtifactVersions: (): Statement => db.prepare(
      `${ARTIFACT_VERSION_SELECT} WHERE (@artifactName IS NULL OR v.artifact_name = @artifactName)
       ORDER BY v.created_at DESC, v.rowid DESC LIMIT @limit`,
    ),

    // A resumed step run records its inputs again: the newest link for an input name wins.
    insertStepInput: (): Statement => db.prepare(
      `INSERT INTO step_run_inputs (step_run_id, artifact_version_id, input_name)
       VALUES (?, ?, ?)
       ON CONFLICT (step_run_id, input_name) DO UPDATE SET artifact_version_id = excluded.artifact_version_id`,
    ),
    listStepInputs: (): Statement => db.prepare(`SELECT * FROM step_run_inputs WHERE step_run_id = ? ORDER BY input_name`),
    insertStepOutput: (): Statement => db.prepare(
      `INSERT INTO step_run_outputs (step_run_id, artifact_version_id, output_name, mapping_key, position)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    listStepOutputs: (): Statement => db.prepare(
      `SELECT * FROM step_run_outputs WHERE step_run_id = ? ORDER BY position, output_name`,
    ),

    saveStepTask: (): Statement => db.prepare(
      `INSERT INTO step_run_tasks (step_run_id, attempt, task) VALUES (?, ?, ?)
       ON CONFLICT (step_run_id) DO UPDATE SET attempt = excluded.attempt, task = excluded.task`,
    ),
    getStepTask: (): Statement => db.prepare(`SELECT attempt, task FROM step_run_tasks WHERE step_run_id = ?`),
    insertLog: (): Statement => db.prepare(
      `INSERT INTO logs (run_id, step_run_id, stream, message, at) VALUES (@runId, @stepRunId, @stream, @message, @at)`,
    ),
    listLogs: (): Statement => db.prepare(
      `SELECT * FROM logs
       WHERE run_id = @runId AND id > @afterId AND (@stepRunId IS NULL OR step_run_id = @stepRunId)
       ORDER BY id`,
    ),

    insertStack: (): Statement => db.prepare(`INSERT INTO stacks (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
    getStack: (): Statement => db.prepare(`SELECT * FROM stacks WHERE name = ?`),
    listStacks: (): Statement => db.prepare(`SELECT * FROM stacks ORDER BY name`),
    deleteStackMembers: (): Statement => db.prepare(`DELETE FROM stack_members WHERE stack_name = ?`),
    deleteStack: (): Statement => db.prepare(`DELETE FROM stacks WHERE name = ?`),
    upsertComponent: (): Statement => db
      .prepare(
        `INSERT INTO stack_components (id, type, name, flavor, config) VALUES (@id, @type, @name, @flavor, @config)
         ON CONFLICT (type, name) DO UPDATE SET flavor = excluded.flavor, config = excluded.config
         RETURNING id`,
      )
      .pluck(),
    insertStackMember: (): Statement => db.prepare(`INSERT INTO stack_members (stack_name, component_id, position) VALUES (?, ?, ?)`),
    stackMembers: (): Statement => db.prepare(`${MEMBER_SELECT} WHERE m.stack_name = ? ORDER BY m.position`),
    allStackMembers: (): Statement => db.prepare(`${MEMBER_SELECT} ORDER BY m.stack_name, m.position`),
    getComponent: (): Statement => db.prepare(`SELECT * FROM stack_components WHERE id = ?`),
    listComponents: (): Statement => db.prepare(`SELECT * FROM stack_components ORDER BY type, name`),

    readSeq: (): Statement => db.prepare(`SELECT value FROM sequences WHERE name = 'changes'`).pluck(),
    writeSeq: (): Statement => db.prepare(`UPDATE sequences SET value = ? WHERE name = 'changes'`),

    getSetting: (): Statement => db.prepare(`SELECT value FROM settings WHERE key = ?`).pluck(),
    putSetting: (): Statement => db.prepare(
      `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),
  };
}

type StatementName = keyof ReturnType<typeof statementMakers>;
export type Statements = { readonly [P in StatementName]: Database.Statement };

/**
 * An object whose properties are made on first read (then kept): a store prepares only the
 * statements it uses. A short-lived store (the CLI, a test, a cold `weir run`) uses a dozen
 * of the sixty, and preparing one costs ~0.2–1 ms here.
 */
function lazily<K extends string>(makers: Record<K, () => Database.Statement>): { readonly [P in K]: Database.Statement } {
  const made = {} as Record<string, unknown>;
  for (const [key, make] of Object.entries(makers) as [string, () => Database.Statement][]) {
    Object.defineProperty(made, key, {
      configurable: true,
      enumerable: true,
      get() {
        const value = make();
        Object.defineProperty(made, key, { value, enumerable: true });
        return value;
      },
    });
  }
  return made as { readonly [P in K]: Database.Statement };
}

