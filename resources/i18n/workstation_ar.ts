<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="ar" sourcelanguage="en">
<context>
    <name>ArchiveSearchBar</name>
    <message>
        <location filename="../../workstation/ui/remote_studies.py" line="+101"/>
        <source>Patient ID</source>
        <translation>رقم المريض</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Name (Doe* or Doe^J?ne)</source>
        <translation>الاسم (Doe* أو Doe^J?ne)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Accession</source>
        <translation>رقم الطلب</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>From YYYY-MM-DD</source>
        <translation>من YYYY-MM-DD</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>To YYYY-MM-DD</source>
        <translation>إلى YYYY-MM-DD</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Hospital</source>
        <translation>المستشفى</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Modality</source>
        <translation>طريقة التصوير</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Search archive</source>
        <translation>البحث في الأرشيف</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>More</source>
        <translation>المزيد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Archive:</source>
        <translation>الأرشيف:</translation>
    </message>
</context>
<context>
    <name>CacheKeeper</name>
    <message>
        <location filename="../../workstation/ui/cache_keeper.py" line="+71"/>
        <source>Clear local cache…</source>
        <translation>مسح الذاكرة المؤقتة المحلية…</translation>
    </message>
    <message>
        <location line="+16"/>
        <location line="+94"/>
        <source>Clear the local cache</source>
        <translation>مسح الذاكرة المؤقتة المحلية</translation>
    </message>
    <message>
        <location line="-82"/>
        <source>Nothing to remove.</source>
        <translation>لا شيء لإزالته.</translation>
    </message>
    <message numerus="yes">
        <location line="-9"/>
        <source>Kept: %n study(s) with a report draft, a report not yet sent, or open now (%1).</source>
        <translation>
            <numerusform>تبقى: لا دراسات (فيها مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحة الآن) (%1).</numerusform>
            <numerusform>تبقى: دراسة واحدة (فيها مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحة الآن) (%1).</numerusform>
            <numerusform>تبقى: دراستان (فيهما مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحتان الآن) (%1).</numerusform>
            <numerusform>تبقى: %n دراسات (فيها مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحة الآن) (%1).</numerusform>
            <numerusform>تبقى: %n دراسة (فيها مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحة الآن) (%1).</numerusform>
            <numerusform>تبقى: %n دراسة (فيها مسودة تقرير، أو تقرير لم يُرسل بعد، أو مفتوحة الآن) (%1).</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+15"/>
        <source>Remove the local copies of %n study(s) (%1)?</source>
        <translation>
            <numerusform>إزالة النسخ المحلية (لا دراسات، %1)؟</numerusform>
            <numerusform>إزالة النسخة المحلية لدراسة واحدة (%1)؟</numerusform>
            <numerusform>إزالة النسخ المحلية لدراستين (%1)؟</numerusform>
            <numerusform>إزالة النسخ المحلية لـ%n دراسات (%1)؟</numerusform>
            <numerusform>إزالة النسخ المحلية لـ%n دراسة (%1)؟</numerusform>
            <numerusform>إزالة النسخ المحلية لـ%n دراسة (%1)؟</numerusform>
        </translation>
    </message>
    <message>
        <location line="+7"/>
        <source>They can be retrieved again from the archive.</source>
        <translation>يمكن استرجاعها من الأرشيف مرة أخرى.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Remove</source>
        <translation>إزالة</translation>
    </message>
    <message>
        <location line="+54"/>
        <source>Local cache: %1</source>
        <translation>الذاكرة المؤقتة المحلية: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The local cache could not be cleaned: %1</source>
        <translation>تعذّر تنظيف الذاكرة المؤقتة المحلية: %1</translation>
    </message>
</context>
<context>
    <name>Dictation</name>
    <message>
        <location filename="extracted_strings.py" line="+57"/>
        <source>No microphone: no audio input device was found</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>لا يوجد ميكروفون: لم يُعثر على جهاز إدخال صوتي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Dictation is unavailable: %1</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>الإملاء غير متاح: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>No microphone support: Qt Multimedia is not installed (pip install PySide6-Addons)</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>لا يوجد دعم للميكروفون: وحدة Qt Multimedia غير مثبّتة (pip install PySide6-Addons)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>the microphone&apos;s sample format %1 is unusable</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>صيغة عيّنات الميكروفون %1 غير قابلة للاستخدام</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>No microphone: %1 cannot be opened (in use, or access denied)</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>لا يوجد ميكروفون: تعذّر فتح %1 (قيد الاستخدام، أو رُفض الوصول)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>the microphone %1 stopped (%2)</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>توقّف الميكروفون %1 (%2)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Dictation is unavailable: the speech engine failed to load (%1)</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>الإملاء غير متاح: تعذّر تحميل محرك التعرّف على الكلام (%1)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Dictation failed: %1</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>فشل الإملاء: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Dictation failed: the speech engine stopped (%1)</source>
        <extracomment>workstation/ui/dictation.py</extracomment>
        <translation>فشل الإملاء: توقّف محرك التعرّف على الكلام (%1)</translation>
    </message>
</context>
<context>
    <name>ImageViewport</name>
    <message>
        <location line="+342"/>
        <source>User calibration removed: the file&apos;s spacing applies.</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>أُزيلت معايرة المستخدم: تُطبَّق المسافة بين البكسلات المحددة في الملف.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Calibrate</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>معايرة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>every image of the series</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>كل صور السلسلة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>this image only</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>هذه الصورة فقط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>This image has no user calibration.</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>لا توجد معايرة مستخدم لهذه الصورة.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Calibration not removed: </source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>لم تُزَل المعايرة: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Not calibrated: </source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>لم تتم المعايرة: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Cannot display this image:</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>تعذّر عرض هذه الصورة:</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The line measures %1 %2 now.
True length of the object in mm:</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>يقيس الخط الآن %1 %2.
الطول الحقيقي للجسم بالمليمتر:</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Calibrated by user (%1): %2 mm/px</source>
        <extracomment>workstation/ui/viewport.py</extracomment>
        <translation>معايرة المستخدم (%1): %2 مم/بكسل</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../../workstation/ui/main_window.py" line="+128"/>
        <location line="+429"/>
        <source>Reading Workstation</source>
        <translation>محطة القراءة</translation>
    </message>
    <message>
        <location line="-422"/>
        <source>Search name, patient ID or accession</source>
        <translation>ابحث بالاسم أو رقم المريض أو رقم الطلب</translation>
    </message>
    <message>
        <location line="+85"/>
        <source>Studies</source>
        <translation>الدراسات</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+199"/>
        <source>Viewer</source>
        <translation>العارض</translation>
    </message>
    <message>
        <location line="-198"/>
        <source>Reports</source>
        <translation>التقارير</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Worklist</source>
        <translation>قائمة العمل</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Measurements</source>
        <translation>القياسات</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Some settings files were ignored: </source>
        <translation>تم تجاهل بعض ملفات الإعدادات: </translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Settings problem, working without the archive: %1</source>
        <translation>مشكلة في الإعدادات، يستمر العمل دون الأرشيف: %1</translation>
    </message>
    <message>
        <location line="+100"/>
        <source>&amp;File</source>
        <translation>&amp;ملف</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Import files…</source>
        <translation>&amp;استيراد ملفات…</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Import &amp;folder…</source>
        <translation>استيراد &amp;مجلد…</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>&amp;Quit</source>
        <translation>&amp;خروج</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>&amp;View</source>
        <translation>&amp;عرض</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Study &amp;list</source>
        <translation>&amp;قائمة الدراسات</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>&amp;Viewer</source>
        <translation>&amp;العارض</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Read &amp;next study</source>
        <translation>&amp;قراءة الدراسة التالية</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>&amp;Help</source>
        <translation>&amp;مساعدة</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Keyboard &amp;shortcuts</source>
        <translation>&amp;اختصارات لوحة المفاتيح</translation>
    </message>
    <message>
        <location line="+28"/>
        <source>Grid…</source>
        <translation>شبكة…</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Link</source>
        <translation>ربط</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Key image</source>
        <translation>صورة مفتاحية</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cine</source>
        <translation>عرض سينمائي</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>MPR / 3D</source>
        <translation>MPR / ثلاثي الأبعاد</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Calibrate…</source>
        <translation>معايرة…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Draw a line over an object of known size (U)</source>
        <translation>ارسم خطًا فوق جسم معروف الحجم (U)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Remove calibration</source>
        <translation>إزالة المعايرة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source> img/s</source>
        <translation> صورة/ث</translation>
    </message>
    <message>
        <location line="+74"/>
        <source>Cannot open study</source>
        <translation>تعذّر فتح الدراسة</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Prior</source>
        <translation>دراسة سابقة</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Check the priors: same patient ID but </source>
        <translation>تحقّق من الدراسات السابقة: رقم المريض نفسه لكن يختلف </translation>
    </message>
    <message>
        <location line="+45"/>
        <source>Another reader holds this study: opened read-only</source>
        <translation>يحجز طبيب آخر هذه الدراسة: فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>The study is not in the local store and no archive is configured</source>
        <translation>الدراسة ليست في المخزن المحلي ولم يُهيَّأ أي أرشيف</translation>
    </message>
    <message>
        <location line="+37"/>
        <source>The report editor failed: </source>
        <translation>تعطّل محرّر التقرير: </translation>
    </message>
    <message>
        <location line="+50"/>
        <source>No images in this study</source>
        <translation>لا صور في هذه الدراسة</translation>
    </message>
    <message>
        <location line="+3"/>
        <location line="+17"/>
        <source>Cannot show this series</source>
        <translation>تعذّر عرض هذه السلسلة</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>%1 of a prior: none here</source>
        <translation>%1 من دراسة سابقة: لا يوجد هنا</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>No prior here</source>
        <translation>لا توجد دراسة سابقة هنا</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>%1: not in this study</source>
        <translation>%1: غير موجود في هذه الدراسة</translation>
    </message>
    <message>
        <location line="+61"/>
        <source>Grid</source>
        <translation>الشبكة</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Rows × columns (e.g. 2x3):</source>
        <translation>الصفوف × الأعمدة (مثلًا 2x3):</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Not a grid: </source>
        <translation>ليست شبكة صالحة: </translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Cannot open this series: </source>
        <translation>تعذّر فتح هذه السلسلة: </translation>
    </message>
    <message>
        <location line="+39"/>
        <source>Measurement not saved: </source>
        <translation>لم يُحفظ القياس: </translation>
    </message>
    <message>
        <location line="+61"/>
        <source>Linked %n series to the active one</source>
        <translation>تم ربط %n سلسلة بالسلسلة النشطة</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>Key image marked</source>
        <translation>عُلّمت الصورة صورةً مفتاحية</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Key image removed</source>
        <translation>أُزيل تعليم الصورة المفتاحية</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>This series is still arriving (%1 of %2 images). Build the MPR from what is here, or wait?</source>
        <translation>لا تزال هذه السلسلة قيد الوصول (%1 من %2 صورة). هل تُنشأ إعادة بناء MPR مما وصل، أم الانتظار؟</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Build</source>
        <translation>إنشاء</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Wait</source>
        <translation>انتظار</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>No MPR for this series: </source>
        <translation>لا تتوفر إعادة بناء MPR لهذه السلسلة: </translation>
    </message>
    <message>
        <location line="-32"/>
        <location line="+47"/>
        <source>MPR</source>
        <translatorcomment>DICOM/radiology abbreviation (multiplanar reformation): kept.</translatorcomment>
        <translation>MPR</translation>
    </message>
    <message>
        <location line="-518"/>
        <source>, </source>
        <comment>list separator</comment>
        <translation>، </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n studies</source>
        <translation>
            <numerusform>لا دراسات</numerusform>
            <numerusform>دراسة واحدة</numerusform>
            <numerusform>دراستان</numerusform>
            <numerusform>%n دراسات</numerusform>
            <numerusform>%n دراسة</numerusform>
            <numerusform>%n دراسة</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n series</source>
        <translation>
            <numerusform>لا سلاسل</numerusform>
            <numerusform>سلسلة واحدة</numerusform>
            <numerusform>سلسلتان</numerusform>
            <numerusform>%n سلاسل</numerusform>
            <numerusform>%n سلسلة</numerusform>
            <numerusform>%n سلسلة</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n images</source>
        <translation>
            <numerusform>لا صور</numerusform>
            <numerusform>صورة واحدة</numerusform>
            <numerusform>صورتان</numerusform>
            <numerusform>%n صور</numerusform>
            <numerusform>%n صورة</numerusform>
            <numerusform>%n صورة</numerusform>
        </translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Local store: %1</source>
        <translation>المخزن المحلي: %1</translation>
    </message>
    <message>
        <location line="+549"/>
        <source>Import DICOM files</source>
        <translation>استيراد ملفات DICOM</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Import a folder</source>
        <translation>استيراد مجلد</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Importing…</source>
        <translation>جارٍ الاستيراد…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Hide</source>
        <translation>إخفاء</translation>
    </message>
    <message>
        <location line="+33"/>
        <source>Import failed</source>
        <translation>فشل الاستيراد</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Import finished: %1</source>
        <translation>اكتمل الاستيراد: %1</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Import</source>
        <translation>استيراد</translation>
    </message>
</context>
<context>
    <name>MeasurementPanel</name>
    <message>
        <location filename="extracted_strings.py" line="-390"/>
        <source>No measurements in this study</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>لا توجد قياسات في هذه الدراسة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Rename</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>إعادة التسمية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Delete</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>حذف</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Delete the selected measurement (Del)</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>حذف القياس المحدد (Del)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Calibrated by user: %1 mm/px</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>معايرة المستخدم: %1 مم/بكسل</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Name</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>الاسم</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Measurement</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>القياس</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Value</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>القيمة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Image</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>الصورة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The measured image is not in the local store.</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>الصورة المقيسة ليست في المخزن المحلي.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Measurement not deleted: </source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>لم يُحذف القياس: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Name not kept: </source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>لم يُحفظ الاسم: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Measurements could not be read: </source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>تعذّرت قراءة القياسات: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Double-click to name this measurement</source>
        <extracomment>workstation/ui/measurement_panel.py</extracomment>
        <translation>انقر مرتين لتسمية هذا القياس</translation>
    </message>
</context>
<context>
    <name>Mpr3DViewport</name>
    <message>
        <location filename="../../workstation/ui/mpr_view.py" line="+361"/>
        <source>Planes</source>
        <translation>المستويات</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Show the MPR planes and the crosshair in 3D</source>
        <translation>إظهار مستويات MPR والمؤشر المتقاطع في العرض ثلاثي الأبعاد</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Crop</source>
        <translation>قص</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Crop the 3D rendering to a box (drag its handles)</source>
        <translation>قص العرض ثلاثي الأبعاد إلى صندوق (اسحب مقابضه)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Reset crop</source>
        <translation>إلغاء القص</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The crop box back to the whole volume</source>
        <translation>إعادة صندوق القص إلى الحجم كاملًا</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>MIP</source>
        <translation>MIP</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>3D maximum-intensity projection instead of the preset</source>
        <translation>إسقاط أقصى شدة ثلاثي الأبعاد بدلًا من الإعداد المسبق</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Look at the volume from a standard direction</source>
        <translation>عرض الحجم من اتجاه قياسي</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Anterior</source>
        <translation>أمامي</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Posterior</source>
        <translation>خلفي</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Left</source>
        <translation>أيسر</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Right</source>
        <translation>أيمن</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Superior</source>
        <translation>علوي</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Inferior</source>
        <translation>سفلي</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Reset view</source>
        <translation>إعادة ضبط العرض</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Camera back to the front view, whole volume</source>
        <translation>إعادة الكاميرا إلى المنظر الأمامي والحجم كاملًا</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>3D at reduced resolution: software rendering</source>
        <translation>عرض ثلاثي الأبعاد بدقة منخفضة: عرض برمجي</translation>
    </message>
</context>
<context>
    <name>MprView</name>
    <message>
        <location filename="extracted_strings.py" line="+6"/>
        <source>Link window and zoom</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>ربط النافذة والتكبير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Slab thickness (0: thin plane)</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>سماكة الشريحة (0: مستوى رقيق)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Interpolation of the reformatted planes</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>استيفاء المستويات المُعاد بناؤها</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Reset</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>إعادة الضبط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>3D</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>ثلاثي الأبعاد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>3D rendering: transfer-function preset or projection</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>العرض ثلاثي الأبعاد: إعداد مسبق لدالة النقل أو إسقاط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Oblique</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translatorcomment>Kept in English: image overlay text (VTK corner), like the 2D viewport&apos;s.</translatorcomment>
        <translation>Oblique</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Average</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>المتوسط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Crosshair</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>المؤشر المتقاطع</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Length</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>الطول</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Ellipse ROI</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>منطقة اهتمام بيضاوية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Linear</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>خطي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Nearest</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>الأقرب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Cubic</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>تكعيبي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Slab</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translatorcomment>Kept in English: also drawn in the MPR image corner, where VTK has no Arabic shaping.</translatorcomment>
        <translation>Slab</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>3D MIP</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>MIP ثلاثي الأبعاد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Zoom</source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translatorcomment>Kept in English: image overlay text (VTK corner), like the 2D viewport&apos;s.</translatorcomment>
        <translation>Zoom</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Measurement not saved: </source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>لم يُحفظ القياس: </translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Measurement not deleted: </source>
        <extracomment>workstation/ui/mpr_view.py</extracomment>
        <translation>لم يُحذف القياس: </translation>
    </message>
</context>
<context>
    <name>ReadingGuard</name>
    <message>
        <location filename="../../workstation/ui/reading_guard.py" line="+54"/>
        <source>The worklist was not asked whether another reader holds this study: </source>
        <translation>لم تُسأل قائمة العمل عمّا إذا كان قارئ آخر يحجز هذه الدراسة: </translation>
    </message>
    <message>
        <location line="+8"/>
        <source>On the worklist, not claimed by you: claim it to report it.</source>
        <translation>في قائمة العمل ولم تحجزها: احجزها لكتابة تقريرها.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>%1 holds this study on the worklist: opened read-only</source>
        <translation>يحجز %1 هذه الدراسة في قائمة العمل: فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>The worklist gives this study&apos;s reading to another reader: opened read-only</source>
        <translation>تُسند قائمة العمل قراءة هذه الدراسة إلى قارئ آخر: فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Its reading on the worklist is closed (completed or handed on): opened read-only</source>
        <translation>قراءتها في قائمة العمل مُغلقة (اكتملت أو أُحيلت): فُتحت للقراءة فقط</translation>
    </message>
</context>
<context>
    <name>RemoteStudies</name>
    <message>
        <location filename="../../workstation/ui/remote_studies.py" line="+227"/>
        <source>The archive queue did not start: </source>
        <translation>لم تبدأ قائمة انتظار الأرشيف: </translation>
    </message>
    <message>
        <location line="+57"/>
        <source>Searching…</source>
        <translation>جارٍ البحث…</translation>
    </message>
    <message>
        <location line="-124"/>
        <source>The archive is not used: </source>
        <translation>الأرشيف غير مستخدم: </translation>
    </message>
    <message>
        <location line="+195"/>
        <source>1 study</source>
        <translation>دراسة واحدة</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>%n studies</source>
        <translation>%n دراسة</translation>
    </message>
    <message>
        <location line="+10"/>
        <source> in the archive</source>
        <translation> في الأرشيف</translation>
    </message>
    <message>
        <location line="-8"/>
        <source> (more available)</source>
        <translation> (يتوفر المزيد)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source> (the archive has more matches: narrow the search)</source>
        <translation> (في الأرشيف نتائج أخرى: ضيّق البحث)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source> (some archives cannot search DICOMweb for a name in letters other than A-Z: search by patient ID or accession number)</source>
        <translation> (بعض الأرشيفات لا تستطيع البحث عبر DICOMweb عن اسم بحروف غير A-Z: ابحث برقم المريض أو رقم الطلب)</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Archive search failed: </source>
        <translation>فشل البحث في الأرشيف: </translation>
    </message>
    <message>
        <location line="+51"/>
        <source>The stored studies were not compared with the archive: </source>
        <translation>لم تُقارَن الدراسات المخزّنة بالأرشيف: </translation>
    </message>
    <message>
        <location line="+32"/>
        <source>Cannot retrieve the study: </source>
        <translation>تعذّر استرجاع الدراسة: </translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Retrieving the study from the archive…</source>
        <translation>جارٍ استرجاع الدراسة من الأرشيف…</translation>
    </message>
    <message>
        <location line="+103"/>
        <source>Incomplete: this MPR is built from %1 of %2 images; the series is still being retrieved</source>
        <translation>غير مكتمل: أُعيد بناء MPR هذا من %1 من أصل %2 صورة؛ ما زال استرجاع السلسلة جاريًا</translation>
    </message>
    <message>
        <location line="+36"/>
        <source>Study retrieved completely</source>
        <translation>استُرجعت الدراسة كاملة</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Retrieval stopped: </source>
        <translation>توقف الاسترجاع: </translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Cannot open the study: </source>
        <translation>تعذّر فتح الدراسة: </translation>
    </message>
    <message>
        <location line="+17"/>
        <source>The archive did not answer (%1); retry %2 in %3 s</source>
        <translation>لم يستجب الأرشيف (%1)؛ المحاولة %2 بعد %3 ث</translation>
    </message>
    <message>
        <location line="+73"/>
        <source>Retrieving: %1 of %2 images here; the others are skipped until they arrive</source>
        <translation>جارٍ الاسترجاع: وصلت %1 من %2 صورة؛ تُتخطّى البقية حتى تصل</translation>
    </message>
</context>
<context>
    <name>ReportEditor</name>
    <message>
        <location filename="../../workstation/ui/report_editor.py" line="+556"/>
        <source>(no name)</source>
        <translation>(بلا اسم)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>New report</source>
        <translation>تقرير جديد</translation>
    </message>
    <message>
        <location line="+71"/>
        <source>Insert measurement</source>
        <translation>إدراج قياس</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Normal</source>
        <translation>طبيعي</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Fill every empty field with the template&apos;s normal text</source>
        <translation>ملء كل حقل فارغ بالنص الطبيعي من القالب</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Undo</source>
        <translation>تراجع</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Sign preliminary</source>
        <translation>توقيع أولي</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Sign final</source>
        <translation>توقيع نهائي</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Addendum…</source>
        <translation>ملحق…</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Add to the signed final report: a new final report that refers to it</source>
        <translation>إضافة إلى التقرير النهائي الموقَّع: تقرير نهائي جديد يشير إليه</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Claim</source>
        <translation>حجز</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Claim this study on the worklist to report it</source>
        <translation>احجز هذه الدراسة في قائمة العمل لكتابة تقريرها</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Dictate</source>
        <translation>إملاء</translation>
    </message>
    <message>
        <location line="+35"/>
        <source>Measurements</source>
        <translation>القياسات</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Key images (referenced when signed)</source>
        <translation>الصور المفتاحية (يُشار إليها عند التوقيع)</translation>
    </message>
    <message>
        <location line="+169"/>
        <source>Saving…</source>
        <translation>جارٍ الحفظ…</translation>
    </message>
    <message>
        <location line="+30"/>
        <source>Undone</source>
        <translation>تم التراجع</translation>
    </message>
    <message numerus="yes">
        <location line="+95"/>
        <source>Fields filled with normal text: %n</source>
        <translation>
            <numerusform>لم يُملأ أي حقل بالنص الطبيعي</numerusform>
            <numerusform>مُلئ حقل واحد بالنص الطبيعي</numerusform>
            <numerusform>مُلئ حقلان بالنص الطبيعي</numerusform>
            <numerusform>مُلئت %n حقول بالنص الطبيعي</numerusform>
            <numerusform>مُلئ %n حقلًا بالنص الطبيعي</numerusform>
            <numerusform>مُلئ %n حقل بالنص الطبيعي</numerusform>
        </translation>
    </message>
    <message>
        <location line="+12"/>
        <location line="+128"/>
        <source>image</source>
        <translation>صورة</translation>
    </message>
    <message>
        <location line="-92"/>
        <source>The measured image is not in the local store.</source>
        <translation>الصورة المقيسة ليست في المخزن المحلي.</translation>
    </message>
    <message>
        <location line="+59"/>
        <source>Inserted %1</source>
        <translation>أُدرج: %1</translation>
    </message>
    <message>
        <location line="+59"/>
        <source>Hold F4 (or press Dictate) and speak into the field</source>
        <translation>اضغط F4 مطوّلًا (أو زر «إملاء») وتحدّث في الحقل</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>%1. Typing works as always.</source>
        <translation>%1. الكتابة تعمل كالمعتاد.</translation>
    </message>
    <message>
        <location line="+86"/>
        <source>● Listening: %1…</source>
        <translation>● جارٍ الاستماع: %1…</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Writing what was said…</source>
        <translation>جارٍ كتابة ما قيل…</translation>
    </message>
    <message>
        <location line="+53"/>
        <source>Nothing was heard.</source>
        <translation>لم يُسمع شيء.</translation>
    </message>
    <message>
        <location line="+47"/>
        <source>A paragraph break needs a text section.</source>
        <translation>يحتاج فاصل الفقرة إلى قسم نصي.</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>“%1” is not a choice of %2.</source>
        <translation>«%1» ليس من خيارات %2.</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>%1 takes a number; heard “%2”.</source>
        <translation>الحقل %1 يقبل رقمًا؛ سُمع «%2».</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>%1 is in %2; heard %3.</source>
        <translation>وحدة الحقل %1 هي %2؛ سُمع %3.</translation>
    </message>
    <message>
        <location line="+51"/>
        <source>Nothing dictated to scratch.</source>
        <translation>لا يوجد نص مُملى لحذفه.</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>The saved draft cannot be read: %1</source>
        <translation>تعذّرت قراءة المسودة المحفوظة: %1</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Draft restored from template %1 (saved %2)</source>
        <translation>استُعيدت المسودة من القالب %1 (حُفظت %2)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Draft restored (saved %1)</source>
        <translation>استُعيدت المسودة (حُفظت %1)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Draft saved %1</source>
        <translation>حُفظت المسودة %1</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>NOT SAVED: %1</source>
        <translation>لم تُحفظ: %1</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The draft could not be saved: %1</source>
        <translation>تعذّر حفظ المسودة: %1</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Incomplete study</source>
        <translation>دراسة غير مكتملة</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Report</source>
        <translation>التقرير</translation>
    </message>
    <message>
        <location line="+49"/>
        <source>The report cannot be signed yet: %1</source>
        <translation>لا يمكن توقيع التقرير بعد: %1</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>Not signed: the study is incomplete</source>
        <translation>لم يُوقَّع: الدراسة غير مكتملة</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The report was not signed: %1</source>
        <translation>لم يُوقَّع التقرير: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Signed final: changes now go in an addendum.</source>
        <translation>وُقّع نهائيًا: تُضاف التغييرات الآن في ملحق.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Report signed final; it is stored and queued to be sent</source>
        <translation>وُقّع التقرير نهائيًا؛ حُفظ ووُضع في قائمة الإرسال</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Report signed preliminary; it is stored and queued to be sent</source>
        <translation>وُقّع التقرير توقيعًا أوليًا؛ حُفظ ووُضع في قائمة الإرسال</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>Signed final (%1), as the Reports tab shows: changes now go in an addendum.</source>
        <translation>وُقّع نهائيًا (%1) كما يظهر في تبويب التقارير: تُضاف التغييرات الآن في ملحق.</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Addendum</source>
        <translation>ملحق</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Addendum to the signed final report:</source>
        <translation>ملحق للتقرير النهائي الموقَّع:</translation>
    </message>
    <message>
        <location line="+26"/>
        <source>The addendum was not signed: %1</source>
        <translation>لم يُوقَّع الملحق: %1</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Addendum signed; it is stored and queued to be sent</source>
        <translation>وُقِّع الملحق؛ حُفظ ووُضع في قائمة الإرسال</translation>
    </message>
    <message>
        <location line="+38"/>
        <source>Stored locally.</source>
        <translation>محفوظ محليًا.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Outbox unreadable: %1</source>
        <translation>تعذّرت قراءة صندوق الصادر: %1</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>, </source>
        <comment>list separator</comment>
        <translation>، </translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Outbox: %1. Latest: %2</source>
        <translation>صندوق الصادر: %1. الأحدث: %2</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>acknowledged by %1 at %2</source>
        <translation>أكّد %1 الاستلام الساعة %2</translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>acknowledged by %1 at %2 after %n attempts</source>
        <translation>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد %n محاولة</numerusform>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد محاولة واحدة</numerusform>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد محاولتين</numerusform>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد %n محاولات</numerusform>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد %n محاولة</numerusform>
            <numerusform>أكّد %1 الاستلام الساعة %2 بعد %n محاولة</numerusform>
        </translation>
    </message>
    <message>
        <location line="+3"/>
        <source>no reason given</source>
        <translation>دون ذكر سبب</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>refused by %1: %2 (fix the cause, then retry)</source>
        <translation>رفضه %1: %2 (عالج السبب ثم أعد المحاولة)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>waiting to be sent to %1</source>
        <translation>بانتظار الإرسال إلى %1</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>now</source>
        <comment>next attempt</comment>
        <translation>الآن</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>in %1 s (%2)</source>
        <translation>بعد %1 ث (%2)</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>not yet acknowledged by %1 after 1 attempt: %2; next attempt %3</source>
        <translation>لم يؤكّد %1 الاستلام بعد محاولة واحدة: %2؛ المحاولة التالية %3</translation>
    </message>
    <message numerus="yes">
        <location line="+3"/>
        <source>not yet acknowledged by %1 after %n attempts: %2; next attempt %3</source>
        <translation>
            <numerusform>لم يؤكّد %1 الاستلام بعد %n محاولة: %2؛ المحاولة التالية %3</numerusform>
            <numerusform>لم يؤكّد %1 الاستلام بعد محاولة واحدة: %2؛ المحاولة التالية %3</numerusform>
            <numerusform>لم يؤكّد %1 الاستلام بعد محاولتين: %2؛ المحاولة التالية %3</numerusform>
            <numerusform>لم يؤكّد %1 الاستلام بعد %n محاولات: %2؛ المحاولة التالية %3</numerusform>
            <numerusform>لم يؤكّد %1 الاستلام بعد %n محاولة: %2؛ المحاولة التالية %3</numerusform>
            <numerusform>لم يؤكّد %1 الاستلام بعد %n محاولة: %2؛ المحاولة التالية %3</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+9"/>
        <source>%n pending</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>لا تقارير بانتظار الإرسال</numerusform>
            <numerusform>تقرير واحد بانتظار الإرسال</numerusform>
            <numerusform>تقريران بانتظار الإرسال</numerusform>
            <numerusform>%n تقارير بانتظار الإرسال</numerusform>
            <numerusform>%n تقريرًا بانتظار الإرسال</numerusform>
            <numerusform>%n تقرير بانتظار الإرسال</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n sent</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>لم يُرسَل أي تقرير</numerusform>
            <numerusform>أُرسل تقرير واحد</numerusform>
            <numerusform>أُرسل تقريران</numerusform>
            <numerusform>أُرسلت %n تقارير</numerusform>
            <numerusform>أُرسل %n تقريرًا</numerusform>
            <numerusform>أُرسل %n تقرير</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n failed</source>
        <comment>outbox entries</comment>
        <translation>
            <numerusform>لم يُرفض أي تقرير</numerusform>
            <numerusform>رُفض تقرير واحد</numerusform>
            <numerusform>رُفض تقريران</numerusform>
            <numerusform>رُفضت %n تقارير</numerusform>
            <numerusform>رُفض %n تقريرًا</numerusform>
            <numerusform>رُفض %n تقرير</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>SeriesBrowser</name>
    <message numerus="yes">
        <location filename="extracted_strings.py" line="-294"/>
        <location filename="../../workstation/ui/series_browser.py" line="+204"/>
        <source>%n image(s)</source>
        <extracomment>workstation/ui/series_browser.py</extracomment>
        <translation>
            <numerusform>لا توجد صور</numerusform>
            <numerusform>صورة واحدة</numerusform>
            <numerusform>صورتان</numerusform>
            <numerusform>%n صور</numerusform>
            <numerusform>%n صورة</numerusform>
            <numerusform>%n صورة</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/series_browser.py" line="+2"/>
        <source>%n object(s)</source>
        <extracomment>workstation/ui/series_browser.py</extracomment>
        <translation>
            <numerusform>لا توجد كائنات</numerusform>
            <numerusform>كائن واحد</numerusform>
            <numerusform>كائنان</numerusform>
            <numerusform>%n كائنات</numerusform>
            <numerusform>%n كائنًا</numerusform>
            <numerusform>%n كائن</numerusform>
        </translation>
    </message>
    <message>
        <location line="+292"/>
        <source>no image</source>
        <extracomment>workstation/ui/series_browser.py</extracomment>
        <translation>لا توجد صورة</translation>
    </message>
</context>
<context>
    <name>Shortcuts</name>
    <message>
        <location line="+6"/>
        <source>Keyboard shortcuts</source>
        <extracomment>workstation/ui/shortcuts.py</extracomment>
        <translation>اختصارات لوحة المفاتيح</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Keys</source>
        <extracomment>workstation/ui/shortcuts.py</extracomment>
        <translation>المفاتيح</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Action</source>
        <extracomment>workstation/ui/shortcuts.py</extracomment>
        <translation>الإجراء</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Group</source>
        <extracomment>workstation/ui/shortcuts.py</extracomment>
        <translation>المجموعة</translation>
    </message>
    <message>
        <location line="+576"/>
        <source>Show the study list</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>عرض قائمة الدراسات</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Navigation</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>التنقّل</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Show the viewer</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>عرض العارض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Import files</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>استيراد ملفات</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Claim and open the next study of the worklist</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>حجز الدراسة التالية في قائمة العمل وفتحها</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Layout 1×1</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تخطيط 1×1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Layout</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>التخطيط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Layout 1×2</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تخطيط 1×2</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Layout 2×2</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تخطيط 2×2</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Layout 3×3</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تخطيط 3×3</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Next hanging-protocol stage</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>المرحلة التالية من بروتوكول العرض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Previous hanging-protocol stage</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>المرحلة السابقة من بروتوكول العرض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Link scrolling of the visible series</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>ربط تمرير السلاسل المعروضة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Images</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الصور</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Mark or unmark the image as key image</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تعليم الصورة صورةً مفتاحية أو إلغاء تعليمها</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Start or stop cine</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>بدء العرض السينمائي أو إيقافه</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>MPR and 3D of the active series</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إعادة البناء MPR والعرض ثلاثي الأبعاد للسلسلة النشطة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Hold to dictate into the focused report field</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>اضغط مطوّلًا للإملاء في حقل التقرير المحدد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Report</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>التقرير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Show this sheet</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>عرض هذه القائمة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Help</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>المساعدة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Active tool (window/level by default)</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الأداة النشطة (النافذة/المستوى افتراضيًا)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Viewport</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إطار العرض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Window: width ↔, level ↕</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>النافذة: العرض ↔، المستوى ↕</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Pan</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تحريك الصورة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Previous / next image</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الصورة السابقة / التالية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Zoom about the pointer</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>التكبير حول المؤشر</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Jump a tenth of the series</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>القفز عُشر السلسلة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>First / last image</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الصورة الأولى / الأخيرة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Next window stored in the file</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>النافذة التالية المحفوظة في الملف</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Window presets of the modality</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إعدادات النافذة المسبقة لطريقة التصوير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Invert</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>عكس التدرّج الرمادي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Reset the view</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إعادة ضبط العرض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Flip horizontally / vertically</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>قلب أفقي / رأسي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Rotate 90° clockwise / anticlockwise</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>تدوير 90° باتجاه / عكس اتجاه عقارب الساعة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Length</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الطول</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Angle</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>الزاوية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Cobb angle</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>زاوية كوب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Ellipse ROI</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>منطقة اهتمام بيضاوية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Rectangle ROI</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>منطقة اهتمام مستطيلة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Probe</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>قيمة النقطة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Calibrate: line over an object of known size</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>معايرة: خط فوق جسم معروف الحجم</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Overlay planes on / off</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إظهار / إخفاء مستويات التراكب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Cancel the measurement being drawn, then the tool</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>إلغاء القياس الجاري رسمه، ثم الأداة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Delete the selected measurement</source>
        <extracomment>workstation/ui/shortcuts.py (DEFAULTS)</extracomment>
        <translation>حذف القياس المحدد</translation>
    </message>
</context>
<context>
    <name>SignerDialog</name>
    <message>
        <location filename="../../workstation/ui/report_editor.py" line="-1453"/>
        <source>Who signs this report?</source>
        <translation>من يوقّع هذا التقرير؟</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Family name</source>
        <translation>اسم العائلة</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Given name</source>
        <translation>الاسم الأول</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Organisation *</source>
        <translation>المؤسسة *</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Organisation</source>
        <translation>المؤسسة</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>The family name is needed.</source>
        <translation>اسم العائلة مطلوب.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>A final report needs the organisation.</source>
        <translation>يتطلب التقرير النهائي اسم المؤسسة.</translation>
    </message>
</context>
<context>
    <name>SrViewer</name>
    <message>
        <location filename="extracted_strings.py" line="-834"/>
        <source>No report to show.</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>لا يوجد تقرير لعرضه.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Current report</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>التقرير الحالي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>undated</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>بلا تاريخ</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Report</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>التقرير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Unreadable report</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>تقرير تتعذّر قراءته</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Earlier report: %1</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>نسخة سابقة من التقرير: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Prior %1</source>
        <extracomment>workstation/ui/sr_viewer.py</extracomment>
        <translation>دراسة سابقة %1</translation>
    </message>
</context>
<context>
    <name>StudyTableModel</name>
    <message>
        <location line="+6"/>
        <source>Local only</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>محلية فقط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Stored</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>مخزّنة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Not retrieved</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>لم تُسترجع</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Complete</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>مكتملة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Retrying</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>إعادة المحاولة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Failed</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>فشلت</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Partial</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>جزئية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Retrieving</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>جارٍ الاسترجاع</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Cache</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>النسخة المحلية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>In the local store; not compared with the archive yet</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>في المخزن المحلي؛ لم تُقارَن بالأرشيف بعد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The archive does not hold this study</source>
        <extracomment>workstation/ui/study_model.py</extracomment>
        <translation>هذه الدراسة ليست في الأرشيف</translation>
    </message>
    <message>
        <location line="+294"/>
        <source>Patient name</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>اسم المريض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Patient ID</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>رقم المريض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Birth date</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>تاريخ الميلاد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Sex</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>الجنس</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Accession</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>رقم الطلب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Study date</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>تاريخ الدراسة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Modality</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>طريقة التصوير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Description</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>الوصف</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Body part</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>جزء الجسم</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Institution</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>المؤسسة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Referring physician</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>الطبيب المُحيل</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Priority</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>الأولوية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Series</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>السلاسل</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Images</source>
        <extracomment>workstation/ui/study_model.py (_COLUMNS)</extracomment>
        <translation>الصور</translation>
    </message>
</context>
<context>
    <name>WorklistPanel</name>
    <message>
        <location line="-300"/>
        <source>Assign to reader</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>إسناد إلى طبيب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Back to pool</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>إعادة إلى المجموعة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Overdue</source>
        <extracomment>workstation/ui/worklist_panel.py, workstation/worklist/model.py (builtin_filters)</extracomment>
        <translation>متأخرة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Filter by patient name, patient ID or accession</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>تصفية حسب اسم المريض أو رقمه أو رقم الطلب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Save filter…</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حفظ عامل التصفية…</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Refresh</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>تحديث</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Save filter</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حفظ عامل التصفية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Name of the filter:</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>اسم عامل التصفية:</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>By</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حسب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Name</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>الاسم</translation>
    </message>
    <message>
        <location line="+36"/>
        <source>Open</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translatorcomment>The action that opens a work item&apos;s study (context menu). The lead view&apos;s column of open work items is its own entry (count of open items).</translatorcomment>
        <translation>فتح</translation>
    </message>
    <message>
        <location line="-30"/>
        <source>Assign selected</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>إسناد المحدد</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Open work</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>الأعمال المفتوحة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Show</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>عرض</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Select the work items to assign first</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حدّد عناصر العمل المراد إسنادها أولًا</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Open read-only</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>فتح للقراءة فقط</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Reader</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>الطبيب القارئ</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Pool</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>المجموعة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Overdue (%1)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>متأخرة (%1)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Worklist not refreshed: %1</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>لم تُحدَّث قائمة العمل: %1</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Claimed: you are reading this study</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>تم الحجز: أنت تقرأ هذه الدراسة</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Due %1</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>موعد التسليم: %1</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>updated %1</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>آخر تحديث %1</translation>
    </message>
    <message>
        <location line="-132"/>
        <source>another reader</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>طبيب آخر</translation>
    </message>
    <message>
        <location line="+102"/>
        <source>Handed back to the pool</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>أُعيدت إلى المجموعة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Hand back to the pool</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>إعادة إلى المجموعة</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>(unassigned)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>(غير مُسندة)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>(none)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>(لا يوجد)</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Reading completed</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>اكتملت القراءة</translation>
    </message>
    <message>
        <location line="-210"/>
        <source>Not claimed (%1): opened read-only</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>لم يتم الحجز (%1): فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+42"/>
        <source>Read next</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>قراءة التالية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Claim and open the most urgent study of this list that you may read</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حجز أكثر دراسة عاجلة في هذه القائمة يحق لك قراءتها وفتحها</translation>
    </message>
    <message>
        <location line="+54"/>
        <source>Nothing to read in this list</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>لا شيء للقراءة في هذه القائمة</translation>
    </message>
    <message>
        <location line="+102"/>
        <source>The next studies were taken by other readers: refreshed</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>حجز قرّاء آخرون الدراسات التالية: حُدّثت القائمة</translation>
    </message>
    <message>
        <location line="-78"/>
        <source>This study is assigned to %1: opened read-only</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>هذه الدراسة مُسندة إلى %1: فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>This study is being read by %1: opened read-only</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>هذه الدراسة قيد القراءة لدى %1: فُتحت للقراءة فقط</translation>
    </message>
    <message>
        <location line="+84"/>
        <source>Not claimed (%1)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>لم يتم الحجز (%1)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Work item not completed: %1</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>لم يكتمل عنصر العمل: %1</translation>
    </message>
    <message>
        <location line="+90"/>
        <source>Priority</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>الأولوية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Time left</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>الوقت المتبقي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Hospital</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>المستشفى</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Modality</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>طريقة التصوير</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Body part</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>جزء الجسم</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Patient</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>المريض</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Accession</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>رقم الطلب</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Study date</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>تاريخ الدراسة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Images</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>الصور</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Assigned reader</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>الطبيب المُسند إليه</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>State</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>الحالة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Local copy</source>
        <extracomment>workstation/ui/worklist_panel.py (COLUMNS)</extracomment>
        <translation>النسخة المحلية</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>All open</source>
        <extracomment>workstation/worklist/model.py (builtin_filters)</extracomment>
        <translation>كل المفتوحة</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>My work</source>
        <extracomment>workstation/worklist/model.py (builtin_filters)</extracomment>
        <translation>أعمالي</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>My pools</source>
        <extracomment>workstation/worklist/model.py (builtin_filters)</extracomment>
        <translation>مجموعاتي</translation>
    </message>
    <message>
        <location filename="../../workstation/ui/worklist_panel.py" line="+99"/>
        <source>complete</source>
        <comment>local copy</comment>
        <translation>مكتملة</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>partial</source>
        <comment>local copy</comment>
        <translation>جزئية</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>none</source>
        <comment>local copy</comment>
        <translation>لا توجد</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>Scheduled</source>
        <comment>work item state</comment>
        <translation>مجدولة</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>In progress</source>
        <comment>work item state</comment>
        <translation>قيد القراءة</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Completed</source>
        <comment>work item state</comment>
        <translation>مكتملة</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Canceled</source>
        <comment>work item state</comment>
        <translation>ملغاة</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>, </source>
        <comment>list separator</comment>
        <translation>، </translation>
    </message>
    <message>
        <location line="+364"/>
        <source>Open</source>
        <comment>count of open items</comment>
        <translation>المفتوحة</translation>
    </message>
    <message numerus="yes">
        <location filename="extracted_strings.py" line="-878"/>
        <source>%n work item(s)</source>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>لا توجد عناصر عمل</numerusform>
            <numerusform>عنصر عمل واحد</numerusform>
            <numerusform>عنصرا عمل</numerusform>
            <numerusform>%n عناصر عمل</numerusform>
            <numerusform>%n عنصر عمل</numerusform>
            <numerusform>%n عنصر عمل</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/worklist_panel.py" line="+409"/>
        <source>%n overdue</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>لا عناصر متأخرة</numerusform>
            <numerusform>عنصر واحد متأخر</numerusform>
            <numerusform>عنصران متأخران</numerusform>
            <numerusform>%n عناصر متأخرة</numerusform>
            <numerusform>%n عنصرًا متأخرًا</numerusform>
            <numerusform>%n عنصر متأخر</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <location filename="../../workstation/ui/worklist_panel.py" line="+153"/>
        <source>%n assigned</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>لم يُسنَد أي عنصر</numerusform>
            <numerusform>أُسند عنصر واحد</numerusform>
            <numerusform>أُسند عنصران</numerusform>
            <numerusform>أُسندت %n عناصر</numerusform>
            <numerusform>أُسند %n عنصرًا</numerusform>
            <numerusform>أُسند %n عنصر</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+8"/>
        <source>%n refused: %1</source>
        <comment>work items</comment>
        <extracomment>workstation/ui/worklist_panel.py</extracomment>
        <translation>
            <numerusform>لم يُرفض أي عنصر: %1</numerusform>
            <numerusform>رُفض عنصر واحد: %1</numerusform>
            <numerusform>رُفض عنصران: %1</numerusform>
            <numerusform>رُفضت %n عناصر: %1</numerusform>
            <numerusform>رُفض %n عنصرًا: %1</numerusform>
            <numerusform>رُفض %n عنصر: %1</numerusform>
        </translation>
    </message>
</context>
</TS>
