-- Grants as landed from the funders' 360Giving files: amounts in pounds, ISO dates, org-ids written
-- one way. Empty (with these columns) until the first import.
{% if grants_landed() %}
select
    grant_id,
    currency,
    cast(amount_awarded as decimal(18, 2)) as amount_awarded,
    cast(award_date as date) as award_date,
    cast(award_year as integer) as award_year,
    recipient_type,
    recipient_org_identifier,
    recipient_org_name,
    recipient_org_charity_number,
    recipient_org_company_number,
    funding_org_identifier,
    coalesce(funding_org_name, funding_org_identifier) as funding_org_name,
    grant_programme_title,
    beneficiary_location_geocode,
    beneficiary_location_name,
    source,
    source_row,
    cast(_loaded_at as timestamp) as _loaded_at
from {{ source('grants_landing', 'grants') }}
{% else %}
select
    cast(null as varchar) as grant_id, cast(null as varchar) as currency, cast(null as decimal(18, 2)) as amount_awarded,
    cast(null as date) as award_date, cast(null as integer) as award_year, cast(null as varchar) as recipient_type,
    cast(null as varchar) as recipient_org_identifier, cast(null as varchar) as recipient_org_name,
    cast(null as varchar) as recipient_org_charity_number, cast(null as varchar) as recipient_org_company_number,
    cast(null as varchar) as funding_org_identifier, cast(null as varchar) as funding_org_name,
    cast(null as varchar) as grant_programme_title, cast(null as varchar) as beneficiary_location_geocode,
    cast(null as varchar) as beneficiary_location_name, cast(null as varchar) as source, cast(null as bigint) as source_row,
    cast(null as timestamp) as _loaded_at
where false
{% endif %}
