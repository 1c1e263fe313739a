{{ config(enabled=('norfolk' in areas())) }}
-- NCAN's monthly export: UK local times as dd/mm/yyyy HH:MM, organisations by name, LSOA 2011.
with landed as (select * from {{ source('landing', 'norfolk_referrals') }})
select
    'norfolk' as area,
    "Referral ID" as referral_id,
    strptime("Status Date", '%d/%m/%Y %H:%M') as changed_at,
    strptime("Date Referred", '%d/%m/%Y %H:%M') as sent_at,
    strptime("Date Accepted", '%d/%m/%Y %H:%M') as accepted_at,
    strptime("Date First Contact", '%d/%m/%Y %H:%M') as contacted_at,
    strptime("Date Closed", '%d/%m/%Y %H:%M') as closed_at,
    "Status" as status_label,
    "Decline Reason" as decline_label,
    "Outcome" as outcome_label,
    string_split("Issues", '; ') as issue_labels,
    "Referring Organisation" as referring_organisation_id,
    "Referred By" as referrer_user_id,
    "Service" as receiving_service_id,
    "Receiving Organisation" as receiving_organisation_id,
    "Client LSOA" as lsoa_code,
    '2011' as lsoa_vintage,
    _age_band as age_band,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from landed
