"""The pages' words in Korean (first) and English; the language comes from ``?lang=``, then the
``dongflow_lang`` cookie, then the server's setting (``--lang`` / DONGFLOW_LANG)."""

from __future__ import annotations

LANGS = ("ko", "en")
LANG_COOKIE = "dongflow_lang"

WORDS: dict[str, tuple[str, str]] = {
    "app": ("찾아가는 동주민센터 공간개선", "Dong office renovations"),
    "sign_in": ("로그인", "Sign in"),
    "sign_out": ("로그아웃", "Sign out"),
    "user_name": ("아이디", "User name"),
    "password": ("비밀번호", "Password"),
    "bad_sign_in": ("아이디 또는 비밀번호가 맞지 않습니다.", "Unknown user name or wrong password."),
    "too_many": ("로그인 시도가 너무 많습니다. {minutes}분 뒤에 다시 시도하세요.",
                 "Too many sign-in attempts. Try again in {minutes} minutes."),
    "signed_in_as": ("로그인:", "Signed in as"),
    "dashboard": ("현황판", "Dashboard"),
    "projects": ("사업 목록", "Projects"),
    "report": ("보고서", "Report"),
    "users": ("사용자", "Users"),
    "tokens": ("API 토큰", "API tokens"),
    "as_of": ("기준일", "As of"),
    "district": ("자치구", "District"),
    "dong": ("동", "Dong"),
    "year": ("연도", "Year"),
    "state": ("단계", "Stage"),
    "level": ("상태", "Status"),
    "key": ("사업 키", "Key"),
    "next_milestone": ("다음 기한", "Next milestone"),
    "total": ("합계", "Total"),
    "late": ("지연", "Late"),
    "at_risk": ("지연 위험", "At risk"),
    "all": ("전체", "All"),
    "filter": ("조회", "Filter"),
    "sort": ("정렬", "Sort"),
    "download": ("내려받기", "Download"),
    "previous_page": ("이전", "Previous"),
    "next_page": ("다음", "Next"),
    "shown": ("{start}–{end} / 전체 {total}건", "{start}–{end} of {total}"),
    "none_found": ("조건에 맞는 사업이 없습니다.", "No project matches."),
    "status": ("현황", "Status"),
    "workflow": ("절차", "Workflow"),
    "target": ("준공 목표일", "Target"),
    "entered": ("현 단계 진입", "In this stage since"),
    "version": ("버전", "Version"),
    "diagram": ("절차도", "Workflow diagram"),
    "from_any": ("모든 단계에서", "From any stage"),
    "diagram_source": ("절차도 원본 (Mermaid)", "Diagram source (Mermaid)"),
    "actions": ("진행", "Actions"),
    "no_actions": ("이 단계에서 할 수 있는 진행이 없습니다.", "Nothing can be done from this stage."),
    "read_only": ("읽기 권한만 있습니다.", "You can read this project but not change it."),
    "unmet": ("아직 충족되지 않은 조건:", "Not met yet:"),
    "now": ("현재", "now"),
    "note": ("메모", "Note"),
    "note_required": ("메모 필수", "a note is required"),
    "milestones": ("기한", "Milestones"),
    "due": ("기한일", "Due"),
    "reached": ("도달일", "Reached"),
    "facts": ("사실 정보", "Facts"),
    "participation": ("주민참여", "Participation"),
    "record_meeting": ("참여 기록", "Record participation"),
    "kind": ("종류", "Kind"),
    "date": ("날짜", "Date"),
    "times": ("횟수", "Times"),
    "save": ("저장", "Save"),
    "budget": ("예산", "Budget"),
    "allocated": ("배정액", "Allocated"),
    "executed": ("집행액", "Executed"),
    "history": ("이력", "History"),
    "when": ("일시", "When"),
    "who": ("처리자", "Who"),
    "change": ("변경", "Change"),
    "nothing_yet": ("없음", "None yet"),
    "refused": ("진행할 수 없습니다", "Refused"),
    "conflict_title": ("다른 사람이 먼저 변경했습니다", "Changed by someone else"),
    "conflict_text": ("{who}님이 {at}에 이 사업을 변경했습니다 ({what}). 화면을 새로 읽은 뒤 다시 하세요.",
                      "{who} changed this project at {at} ({what}). Reload it and try again."),
    "reload": ("새로 읽기", "Reload"),
    "done_advance": ("진행되었습니다.", "Done."),
    "done_participation": ("참여 기록이 저장되었습니다.", "Participation recorded."),
    "done_user": ("저장되었습니다.", "Saved."),
    "error": ("오류", "Error"),
    "not_found": ("찾을 수 없습니다", "Not found"),
    "forbidden": ("권한이 없습니다", "Not allowed"),
    "bad_request": ("요청을 처리할 수 없습니다", "The request cannot be processed"),
    "csrf_failed": ("양식이 만료되었거나 다른 사이트에서 보낸 요청입니다. 화면을 새로 읽고 다시 하세요.",
                    "The form expired or came from another site. Reload the page and try again."),
    "back": ("돌아가기", "Back"),
    "report_text": ("보고서를 HTML, 엑셀, CSV 또는 Markdown으로 받습니다.",
                    "Get the report as HTML, Excel, CSV or Markdown."),
    "open": ("열기", "Open"),
    "role": ("역할", "Role"),
    "display_name": ("이름", "Display name"),
    "districts_field": ("자치구 (쉼표로 구분)", "Districts (comma-separated)"),
    "disabled": ("사용 중지", "Disabled"),
    "disable": ("사용 중지", "Disable"),
    "enable": ("다시 사용", "Enable"),
    "add_user": ("사용자 추가", "Add a user"),
    "set_password": ("비밀번호 변경", "Set password"),
    "new_password": ("새 비밀번호", "New password"),
    "create_token": ("토큰 만들기", "Create a token"),
    "token_name": ("토큰 이름", "Token name"),
    "owner": ("사용자 (대신 동작)", "User it acts for"),
    "expires": ("만료일", "Expires"),
    "revoke": ("폐기", "Revoke"),
    "revoked": ("폐기됨", "Revoked"),
    "last_used": ("마지막 사용", "Last used"),
    "token_once": ("이 토큰은 지금 한 번만 보입니다. 복사해 두세요:", "This token is shown once only. Copy it now:"),
    "created": ("생성일", "Created"),
    "created_event": ("등록", "created"),
    "language": ("English", "한국어"),
    "stages": ("단계별 사업 수", "Projects by stage"),
    "read_scope": ("볼 수 있는 자치구", "Districts you can see"),
    "every_district": ("모든 자치구", "every district"),
}

LEVELS: dict[str, tuple[str, str]] = {
    "pending": ("진행 중", "pending"), "due_soon": ("기한 임박", "due soon"), "overdue": ("기한 경과", "overdue"),
    "escalated": ("기한 크게 경과", "escalated"), "met": ("정상", "on track"), "met_late": ("늦게 달성", "met late"),
    "at_risk": ("지연 위험", "at risk"), "closed": ("종료", "closed"),
}


def pick_lang(query: str | None, cookie: str | None, default: str) -> str:
    for candidate in (query, cookie, default):
        if candidate in LANGS:
            return candidate  # type: ignore[return-value]
    return "ko"


class Words:
    """``t("key", **values)`` in one language (a missing key shows itself: a test notices)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._i = 0 if lang == "ko" else 1

    def __call__(self, key: str, **values: object) -> str:
        pair = WORDS.get(key)
        text = pair[self._i] if pair else key
        return text.format(**values) if values else text

    def level(self, level: str | None) -> str:
        pair = LEVELS.get(level or "")
        return pair[self._i] if pair else (level or "")
