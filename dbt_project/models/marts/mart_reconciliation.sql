{{ config(tags=['published']) }}
-- Nothing lost: per area, every source row read was landed, already landed, or quarantined.
select
    area,
    count(*) as batches,
    sum(rows_in)::bigint as rows_in,
    sum(landed)::bigint as landed,
    sum(already_landed)::bigint as already_landed,
    sum(quarantined)::bigint as quarantined,
    sum(rows_in) = sum(landed) + sum(already_landed) + sum(quarantined) as reconciles,
    max(finished) as last_batch_at
from {{ ref('stg_landing__batches') }}
group by area
