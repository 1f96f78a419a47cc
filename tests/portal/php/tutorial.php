<?php
$ch=curl_init();
curl_setopt_array($ch, array(
    CURLOPT_COOKIEFILE => '',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_URL => 'https://www.backuprun.com/api.php',
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => array(
        'apiCALL' => 'login',
       'email' => 'id@email.com',
       'password' => 'userpassword'
   )
));
$r=curl_exec($ch);
if($r === false)die('error!');
$doc = DOMDocument::loadXML($r);
$doc->formatOutput = true;
echo $doc->saveXML();
curl_setopt_array($ch, array(
    CURLOPT_POSTFIELDS => array(
        'apiCALL' => 'getStatus'
    )
));
$r=curl_exec($ch);
if($r === false)die('error!');
$doc = DOMDocument::loadXML($r);
$doc->formatOutput = true;
echo $doc->saveXML();
?>
