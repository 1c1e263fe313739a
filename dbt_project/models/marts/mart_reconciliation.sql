{{ config(tags=['published']) }}
-- Nothing lost: per area, every source row read was landed, already landed, quarantined, or unchanged
-- (a re-issued export file's rows read before).
select
    area,
    count(*) as batches,
    sum(rows_in)::bigint as rows_in,
    sum(landed)::bigint as landed,
    sum(already_landed)::bigint as already_landed,
    sum(quarantined)::bigint as quarantined,
    sum(unchanged)::bigint as unchanged,
    sum(rows_in) = sum(landed) + sum(already_landed) + sum(quarantined) + sum(unchanged) as reconciles,
    max(finished) as last_batch_at
from {{ ref('stg_landing__batches') }}
group by area
