-- grain: one row per Reddit item (a post_id of platform 'reddit'): submissions, crossposts and comments
-- description: Reddit rows of stg_posts with Reddit-specific columns (docs/sources/reddit.md). Live pulls
--   (source reddit) and dump imports (source reddit_dump) land the same mapping. A submission's reply_count is
--   Reddit's num_comments (all comments of the thread); a comment's reply_count is the number of direct replies
--   Reddit listed for it in the fetched tree, including the ones behind "load more" stubs that the
--   replace_more budget left unexpanded (null when the comment did not come with its tree). The gaps between
--   those counts and what landed tell a short thread from a complete one.
-- column fullname: Reddit's fullname, t3_<id> for submissions and crossposts, t1_<id> for comments
-- column native_id: Reddit's base-36 id without the type prefix
-- column thing_kind: t3 (submission or crosspost) or t1 (comment)
-- column subreddit: community without the 'r/' prefix (lower-case)
-- column permalink: link to the item on reddit.com
-- column replies_landed: items in the lake whose parent_id is this item
-- column replies_hidden: comments only: replies Reddit listed for this comment that are not in the lake
--   (reply_count - replies_landed, at least 0); null when the comment came without its tree
-- column thread_comments_landed: submissions only: comments in the lake whose root is this submission
-- column thread_comments_missing: submissions only: num_comments as reported minus the comments landed (at
--   least 0); counts comments behind unexpanded stubs and comments deleted or removed without replies,
--   which Reddit counts but no longer returns
-- column has_hidden_replies: submissions only: some comment of the thread has replies_hidden > 0
-- column is_thread_complete: submissions only: every comment Reddit counts is in the lake and none has hidden
--   replies
with

reddit as (
    select * from stg_posts
    where platform = 'reddit'
),

children as (
    select
        parent_id,
        count(*) as replies_landed
    from reddit
    where parent_id is not null
    group by parent_id
),

with_replies as (
    select
        reddit.*,
        coalesce(children.replies_landed, 0) as replies_landed,
        case
            when reddit.kind = 'comment' and reddit.reply_count is not null
                then greatest(reddit.reply_count - coalesce(children.replies_landed, 0), 0)
        end as replies_hidden
    from reddit
    left join children on reddit.post_id = children.parent_id
),

threads as (
    select
        root_id,
        count(*) as comments_landed,
        count(*) filter (where replies_hidden > 0) as comments_with_hidden_replies
    from with_replies
    where kind = 'comment' and root_id is not null
    group by root_id
),

final as (
    select
        with_replies.*,
        substr(with_replies.post_id, 8) as fullname,
        substr(with_replies.post_id, 11) as native_id,
        substr(with_replies.post_id, 8, 2) as thing_kind,
        regexp_replace(with_replies.community, '^r/', '') as subreddit,
        case
            when with_replies.kind = 'comment'
                then
                    'https://www.reddit.com/comments/' || substr(with_replies.root_id, 11) || '/_/'
                    || substr(with_replies.post_id, 11)
            else 'https://www.reddit.com/comments/' || substr(with_replies.post_id, 11)
        end as permalink,
        case
            when with_replies.kind <> 'comment' then coalesce(threads.comments_landed, 0)
        end as thread_comments_landed,
        case
            when with_replies.kind <> 'comment' and with_replies.reply_count is not null
                then greatest(with_replies.reply_count - coalesce(threads.comments_landed, 0), 0)
        end as thread_comments_missing,
        case
            when with_replies.kind <> 'comment' then coalesce(threads.comments_with_hidden_replies, 0) > 0
        end as has_hidden_replies,
        case
            when with_replies.kind <> 'comment'
                then
                    coalesce(threads.comments_landed, 0) >= coalesce(with_replies.reply_count, 0)
                    and coalesce(threads.comments_with_hidden_replies, 0) = 0
        end as is_thread_complete
    from with_replies
    left join threads on with_replies.post_id = threads.root_id
)

select * from final
