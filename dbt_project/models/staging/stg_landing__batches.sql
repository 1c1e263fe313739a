-- Every landed batch's reconciliation record (rows in = landed + already landed + quarantined + unchanged,
-- the rows of a re-issued export file read before; batches from before it was counted have none) and
-- its quarantine reasons ("field: rule" -> rows), every area's referral batches.
select area, batch_id, source, contract, rows_in, landed, already_landed, quarantined,
    coalesce(unchanged, 0) as unchanged, reasons, started, finished
from read_json(
    [{% for area in areas() %}'{{ env_var("CCS_HOME", "../.ccs") }}/landing/{{ area }}/batches/*.json'{% if not loop.last %}, {% endif %}{% endfor %}],
    columns = {area: 'varchar', batch_id: 'varchar', source: 'varchar', contract: 'varchar', rows_in: 'bigint',
               landed: 'bigint', already_landed: 'bigint', quarantined: 'bigint', unchanged: 'bigint', reasons: 'json',
               started: 'timestamptz', finished: 'timestamptz'}
)
