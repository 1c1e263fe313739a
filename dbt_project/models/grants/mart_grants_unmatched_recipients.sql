-- Organisations that received grants but match no organisation in the network's directories: listed,
-- not dropped (a recipient outside the network, or a network organisation the funder identifies in a
-- way the directory does not, such as the funder's own 360G- id for an unregistered group).
select
    area,
    recipient_org_identifier,
    {{ org_id_scheme('recipient_org_identifier') }} as identifier_scheme,
    min(recipient_org_name) as recipient_org_name,
    funding_org_identifier,
    min(funding_org_name) as funding_org_name,
    count(*) as grants,
    sum(amount_awarded) as amount_awarded,
    min(award_date) as first_award_date,
    max(award_date) as last_award_date
from {{ ref('int_grants_matched') }}
where recipient_kind = 'other_organisation'
group by area, recipient_org_identifier, funding_org_identifier
