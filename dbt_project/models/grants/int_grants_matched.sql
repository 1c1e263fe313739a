-- Each grant with its area and recipient: a network organisation (matched by org-id, or by the
-- charity or company number a publisher gives beside another id), another organisation (listed in
-- mart_grants_unmatched_recipients), or an individual (counted, never identified). A grant with no
-- matched recipient belongs to the area of its beneficiary location.
with grants as (select * from {{ ref('stg_threesixtygiving__grants') }}),

recipients as (select area, org_identifier from {{ ref('int_grant_recipient_organisations') }}),

candidates as (
    select g.grant_id, r.area, r.org_identifier, 1 as preference
    from grants as g join recipients as r on r.org_identifier = g.recipient_org_identifier
    union all
    select g.grant_id, r.area, r.org_identifier, 2
    from grants as g join recipients as r on r.org_identifier = 'GB-CHC-' || g.recipient_org_charity_number
    union all
    select g.grant_id, r.area, r.org_identifier, 3
    from grants as g join recipients as r on r.org_identifier = 'GB-COH-' || g.recipient_org_company_number
),

matched as (
    select * from candidates
    qualify row_number() over (partition by grant_id order by preference, area) = 1
)

select
    g.grant_id,
    coalesce(m.area, lad.area, 'unassigned') as area,
    g.award_year,
    g.award_date,
    g.funding_org_identifier,
    g.funding_org_name,
    g.amount_awarded,
    case
        when g.recipient_type = 'individual' then 'individual'
        when m.org_identifier is not null then 'network_organisation'
        else 'other_organisation'
    end as recipient_kind,
    m.org_identifier,
    case when m.preference = 1 then 'identifier' when m.preference = 2 then 'charity_number'
         when m.preference = 3 then 'company_number' end as matched_by,
    g.recipient_org_identifier,
    g.recipient_org_name
from grants as g
left join matched as m using (grant_id)
left join {{ ref('int_area_local_authorities') }} as lad on lad.lad_code = g.beneficiary_location_geocode
