-- Each 2021 LSOA's 2011 LSOA, so that systems recording 2021 codes meet the 2011-based deprivation,
-- population and ward tables. A 2021 LSOA made by merging several 2011 ones takes the first of them
-- (18 merges in the four areas): its people count towards that one neighbourhood.
select lsoa21_code, min(lsoa11_code) as lsoa11_code
from {{ ref('lookup_lsoa11_lsoa21') }}
group by lsoa21_code
