-- What each funder granted per area and year: to the network's organisations (matched by org-id), to
-- other organisations, and to individuals (counted and summed at area level only).
select
    area,
    award_year as year,
    funding_org_identifier,
    min(funding_org_name) as funding_org_name,
    count(*) as grants,
    sum(amount_awarded) as amount_awarded,
    count(*) filter (where recipient_kind = 'network_organisation') as grants_to_network_organisations,
    coalesce(sum(amount_awarded) filter (where recipient_kind = 'network_organisation'), 0) as amount_to_network_organisations,
    count(*) filter (where recipient_kind = 'other_organisation') as grants_to_other_organisations,
    coalesce(sum(amount_awarded) filter (where recipient_kind = 'other_organisation'), 0) as amount_to_other_organisations,
    count(*) filter (where recipient_kind = 'individual') as grants_to_individuals,
    coalesce(sum(amount_awarded) filter (where recipient_kind = 'individual'), 0) as amount_to_individuals
from {{ ref('int_grants_matched') }}
group by area, award_year, funding_org_identifier
