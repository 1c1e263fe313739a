{{ config(tags=['published']) }}
-- The canonical issues, their group (from the canonical referral event contract) and a readable name.
select issue, upper(left(replace(issue, '_', ' '), 1)) || substr(replace(issue, '_', ' '), 2) as issue_name, issue_group
from {{ ref('issue_groups') }}
