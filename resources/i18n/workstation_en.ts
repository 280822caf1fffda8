<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>CacheKeeper</name>
    <message numerus="yes">
        <location filename="../../workstation/ui/cache_keeper.py" line="+90"/>
        <source>Kept: %n study(s) with a report draft, a report not yet sent, or open now (%1).</source>
        <translation>
            <numerusform>Kept: %n study with a report draft, a report not yet sent, or open now (%1).</numerusform>
            <numerusform>Kept: %n studies with a report draft, a report not yet sent, or open now (%1).</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+15"/>
        <source>Remove the local copies of %n study(s) (%1)?</source>
        <translation>
            <numerusform>Remove the local copy of %n study (%1)?</numerusform>
            <numerusform>Remove the local copies of %n studies (%1)?</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message numerus="yes">
        <location filename="../../workstation/ui/main_window.py" line="+486"/>
        <source>%n studies</source>
        <translation>
            <numerusform>%n study</numerusform>
            <numerusform>%n studies</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n series</source>
        <translation>
            <numerusform>%n series</numerusform>
            <numerusform>%n series</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n images</source>
        <translation>
            <numerusform>%n image</numerusform>
            <numerusform>%n images</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ReportEditor</name>
    <message numerus="yes">
        <location filename="../../workstation/ui/report_editor.py" line="+1006"/>
        <source>Fields filled with normal text: %n</source>
        <translation>
            <numerusform>Field filled with normal text: %n</numerusform>
            <numerusform>Fields filled with normal text: %n</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+750"/>
        <source>acknowledged by %1 at %2 after %n attempts</source>
        <translation>
            <numerusform>acknowledged by %1 at %2 after %n attempt</numerusform>
            <numerusform>acknowledged by %1 at %2 after %n attempts</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+16"/>
        <source>not yet acknowledged by %1 after %n attempts: %2; next attempt %3</source>
        <translation>
            <numerusform>not yet acknowledged by %1 after %n attempt: %2; next attempt %3</numerusform>
            <numerusform>not yet acknowledged by %1 after %n attempts: %2; next attempt %3</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+9"/>
        <source>%n pending</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>%n pending</numerusform>
            <numerusform>%n pending</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n sent</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>%n sent</numerusform>
            <numerusform>%n sent</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n failed</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>%n failed</numerusform>
            <numerusform>%n failed</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>SeriesBrowser</name>
    <message numerus="yes">
        <location filename="extracted_strings.py" line="+9"/>
        <location filename="../../workstation/ui/series_browser.py" line="+204"/>
        <source>%n image(s)</source>
        <extracomment>workstation/ui/series_browser.py</extracomment>
        <translation>
            <numerusform>%n image</numerusform>
            <numerusform>%n images</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/series_browser.py" line="+2"/>
        <source>%n object(s)</source>
        <extracomment>workstation/ui/series_browser.py</extracomment>
        <translation>
            <numerusform>%n object</numerusform>
            <numerusform>%n objects</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>WorklistPanel</name>
    <message numerus="yes">
        <location line="+8"/>
        <source>%n work item(s)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>%n work item</numerusform>
            <numerusform>%n work items</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/worklist_panel.py" line="+914"/>
        <source>%n overdue</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>%n overdue</numerusform>
            <numerusform>%n overdue</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/worklist_panel.py" line="+153"/>
        <source>%n assigned</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>%n assigned</numerusform>
            <numerusform>%n assigned</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <source>%n refused: %1</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>%n refused: %1</numerusform>
            <numerusform>%n refused: %1</numerusform>
        </translation>
    </message>
</context>
</TS>
