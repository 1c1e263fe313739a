{{ config(tags=['published']) }}
-- Quarantined rows per area, field and rule (a row failing two rules counts under each).
select b.area, split_part(r.key, ': ', 1) as field, split_part(r.key, ': ', 2) as rule, sum(r.value)::bigint as rows
from {{ ref('stg_landing__batches') }} as b,
     unnest(map_entries(cast(b.reasons as map(varchar, bigint)))) as e(r)
group by all
