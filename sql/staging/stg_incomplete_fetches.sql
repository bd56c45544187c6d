-- grain: one row per failed auxiliary fetch (a thread, its quotes, reposts or rebloggers) recorded in quarantine
-- description: API calls that failed while a source completed a cascade (Bluesky, Mastodon). The run went on and
--   landed what it could; the source quarantined one record "incomplete cascade: <step> of <item uri> ..." so the
--   cascade of that item is known to be incomplete (fct_cascades.failed_fetches, is_complete).
-- column source: ripple source that made the call
-- column run_id: ingest run of the call
-- column step: what failed (e.g. getQuotes, getRepostedBy, context, rebloggers)
-- column item_uri: the item's native address (at:// URI, ActivityPub URI); its post_id is '<platform>:' || item_uri
-- column reason: the quarantine reason in full
with

source as (
    select * from src_quarantine
    where reason like 'incomplete cascade: %'
),

final as (
    select
        source,
        run_id,
        regexp_extract(reason, '^incomplete cascade: (\S+) of ', 1) as step,
        regexp_extract(reason, '^incomplete cascade: \S+ of (\S+://\S+)', 1) as item_uri,
        reason
    from source
)

select * from final
