"""Phrase banks for the bundled sample: English and Chinese customer messages by intent.

Each message is ``opener + before + product + after + closer``; the pieces are picked
independently, so a few dozen phrases give thousands of distinct, labelled texts.
"""

from __future__ import annotations

INTENTS = ("pricing_inquiry", "purchase_intent", "complaint", "support_request", "cancellation", "other")

PRODUCTS = {
    "en": ["the Pro plan", "the analytics add-on", "the mobile app", "our team licence",
           "the API package", "the premium support tier", "the data export module",
           "the starter bundle"],
    "zh": ["专业版套餐", "数据分析插件", "手机应用", "团队许可证", "接口套餐", "高级支持服务",
           "数据导出模块", "入门套装"],
}

OPENERS = {
    "en": ["Hi team, ", "Hello, ", "Good morning, ", "Hi there, ", "Dear support, ", ""],
    "zh": ["您好，", "你好，", "早上好，", "客服您好，", "你们好，", ""],
}

CLOSERS = {
    "en": [" Thanks.", " Regards.", " Please get back to me soon.", " Thank you!", "",
           " Call me when you can."],
    "zh": ["谢谢。", "麻烦尽快回复。", "期待您的答复。", "辛苦了！", "", "方便的话请给我回电话。"],
}

# (before, after) pairs around the product name, per language and intent.
CORES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "en": {
        "pricing_inquiry": [
            ("how much does ", " cost per month?"),
            ("could you send me a price quote for ", "?"),
            ("is there a discount on ", " if we pay yearly?"),
            ("what is the price difference between the basic plan and ", "?"),
            ("we need pricing details for ", " for 50 users."),
        ],
        "purchase_intent": [
            ("we would like to buy ", " this quarter."),
            ("we are ready to order ", ", please send the contract."),
            ("I want to upgrade to ", " today."),
            ("please add ", " to our account, we will sign this week."),
            ("our budget is approved, we plan to purchase ", "."),
        ],
        "complaint": [
            ("I am very unhappy with ", ", it keeps failing."),
            ("this is unacceptable: ", " has been down all day."),
            ("we were charged twice for ", " and nobody answered."),
            ("the quality of ", " is terrible and I am frustrated."),
            ("your service for ", " is the worst, I waited a week."),
        ],
        "support_request": [
            ("I cannot log in to ", ", can you help?"),
            ("how do I reset the settings of ", "?"),
            ("we get an error when we open ", "."),
            ("please help us configure ", " for our team."),
            ("the sync in ", " stopped working after the update."),
        ],
        "cancellation": [
            ("please cancel ", " at the end of this month."),
            ("we want to terminate our subscription to ", "."),
            ("we are switching to a competitor, close ", "."),
            ("how do I stop the renewal of ", "?"),
            ("we no longer need ", ", please end the contract."),
        ],
        "other": [
            ("just a note that our address changed, it does not affect ", "."),
            ("thanks for the webinar about ", "."),
            ("our new office manager will be the contact for ", "."),
            ("we will be on holiday next week, nothing urgent about ", "."),
            ("FYI we updated our invoice details for ", "."),
        ],
    },
    "zh": {
        "pricing_inquiry": [
            ("请问", "每个月多少钱？"),
            ("能给我发一份", "的报价吗？"),
            ("如果按年付费，", "有折扣吗？"),
            ("基础版和", "的价格差多少？"),
            ("我们有五十个用户，想了解", "的价格。"),
        ],
        "purchase_intent": [
            ("我们打算本季度购买", "。"),
            ("我们准备下单", "，请发合同过来。"),
            ("我想今天就升级到", "。"),
            ("请帮我们开通", "，本周签约。"),
            ("预算已经批了，我们计划采购", "。"),
        ],
        "complaint": [
            ("我对", "非常不满意，一直出故障。"),
            ("太过分了，", "一整天都用不了。"),
            ("", "重复扣费了两次，一直没人处理。"),
            ("", "的质量太差了，我很生气。"),
            ("你们", "的服务太差了，我等了一个星期。"),
        ],
        "support_request": [
            ("我登录不了", "，能帮忙看一下吗？"),
            ("请问怎么重置", "的设置？"),
            ("打开", "的时候报错了。"),
            ("请帮我们给团队配置", "。"),
            ("更新以后", "的同步功能不能用了。"),
        ],
        "cancellation": [
            ("请在月底取消", "。"),
            ("我们要终止", "的订阅。"),
            ("我们换了别家供应商，请关闭", "。"),
            ("怎么停止", "的自动续费？"),
            ("我们不再需要", "了，请解除合同。"),
        ],
        "other": [
            ("我们公司地址变了，不影响", "。"),
            ("谢谢关于", "的线上讲座。"),
            ("以后", "的对接人换成我们新的行政经理。"),
            ("下周我们放假，", "的事情不着急。"),
            ("我们更新了", "的开票信息，供参考。"),
        ],
    },
}

SUBJECTS = {
    "en": {
        "pricing_inquiry": ["Pricing question", "Quote request", "Discount?"],
        "purchase_intent": ["Order", "Ready to buy", "Upgrade request"],
        "complaint": ["Very disappointed", "Unacceptable service", "Billing problem"],
        "support_request": ["Need help", "Error message", "Login issue"],
        "cancellation": ["Cancel subscription", "Termination notice", "Stop renewal"],
        "other": ["FYI", "Update", "Thanks"],
    },
    "zh": {
        "pricing_inquiry": ["价格咨询", "询价", "折扣问题"],
        "purchase_intent": ["下单", "准备购买", "升级申请"],
        "complaint": ["投诉", "服务太差", "扣费问题"],
        "support_request": ["求助", "报错", "无法登录"],
        "cancellation": ["取消订阅", "解约通知", "停止续费"],
        "other": ["告知", "信息更新", "感谢"],
    },
}

# Agents' outbound messages and internal notes carry no customer intent.
OUTBOUND = {
    "en": ["Thanks for reaching out, we are looking into it.",
           "Following up on our call: the proposal is attached.",
           "Just checking in to see how things are going.",
           "Your ticket has been resolved, let us know if anything else comes up.",
           "Reminder: your renewal is coming up next month."],
    "zh": ["感谢您的来信，我们正在处理。", "跟进一下我们的电话沟通，方案见附件。",
           "想了解一下最近使用情况如何。", "您的问题已经解决，如有其他问题请随时联系。",
           "提醒：您的合同下个月到期续约。"],
}

NOTES = {
    "en": ["Customer seems happy with onboarding.", "Discussed renewal timeline internally.",
           "Escalated to the billing team.", "Account review scheduled."],
    "zh": ["客户对上线过程比较满意。", "内部讨论了续约时间。", "已升级给账务团队处理。",
           "已安排客户回顾会议。"],
}

FIRST_NAMES = {
    "en": ["Alice", "Ben", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Isla", "Jack"],
    "zh": ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰"],
}
LAST_NAMES = {
    "en": ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Hughes"],
    "zh": ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"],
}
COMPANY_WORDS = {
    "en": ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay"],
    "zh": ["华信", "恒达", "天成", "海川", "金桥", "瑞丰", "宏图", "博远"],
}
COMPANY_SUFFIX = {"en": [" Ltd", " Inc", " GmbH", " LLC"], "zh": ["科技有限公司", "贸易有限公司", "集团"]}
