-- (platform, week) whose term counts an incremental build recomputes: the weeks of changed items (either version)
select distinct platform, week_start from ripple_delta.text_versions
