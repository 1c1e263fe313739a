{{ config(enabled=('tower_hamlets' in areas())) }}
-- THCAN's API: UTC times (...Z), converted to UK local time like every other area; LSOA 2021.
with landed as (select * from {{ source('landing', 'tower_hamlets_referrals') }})
select
    'tower_hamlets' as area,
    id as referral_id,
    {{ uk_local('"updatedAt"') }} as changed_at,
    {{ uk_local('"createdAt"') }} as sent_at,
    {{ uk_local('"acceptedAt"') }} as accepted_at,
    {{ uk_local('"firstContactAt"') }} as contacted_at,
    {{ uk_local('"closedAt"') }} as closed_at,
    status as status_label,
    "declineReason" as decline_label,
    outcome as outcome_label,
    issues as issue_labels,
    "referrer.organisationId" as referring_organisation_id,
    "referrer.userId" as referrer_user_id,
    "service.id" as receiving_service_id,
    "service.organisationId" as receiving_organisation_id,
    "client.lsoaCode" as lsoa_code,
    '2021' as lsoa_vintage,
    _age_band as age_band,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from landed
